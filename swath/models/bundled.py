"""The models that ship with Swath, registered in the stored registry on first start.

Idempotent and safe to run from several processes at once (the API and every inference pool run
it as they start): a model, version or alias that exists is left as it is, so an operator's alias
moves survive restarts, and an artefact already in the blob store is not written again. The
bundled versions are `ready` at once (they are tested with the code that ships them). After
this, no pool reads the bundled folder: they resolve and fetch through the registry.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import asyncpg

from swath.blobstore import BlobStore, ref_of
from swath.db import models as queries
from swath.domain.errors import UnsafeArtefactError
from swath.models.artefacts import inspect_artefact
from swath.models.digests import sha256_file
from swath.models.manifests import ARTEFACT_NAMES, stored_manifest
from swath.models.packaged import PACKAGED, PackagedModel
from swath.models.registry import ModelRegistry
from swath.models.store import artefact_key

log = logging.getLogger(__name__)

#: Who registered the bundled models (owner and actor in the registry's rows).
BUNDLED_OWNER = "swath"


async def register_bundled(db: asyncpg.Pool, blobs: BlobStore, root: Path) -> list[str]:
    """Register every version under `root` (`<name>/<version>/manifest.json`, `aliases.json`) as
    shared and ready, and its aliases unless they exist, then the models of installed packages
    (`swath.models.packaged`); the refs newly added."""
    registry = ModelRegistry(root)
    added: list[str] = []
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for name in names:
        for version in registry.versions(name):
            manifest = registry.resolve(f"{name}@{version}")
            key = artefact_key(name, version, manifest.weights)
            if not await blobs.exists(ref_of(key)):
                await blobs.put(key, registry.weights_path(manifest).read_bytes())
            async with db.acquire() as conn:
                await queries.insert_model(
                    conn, name=name, owner=BUNDLED_OWNER, visibility="shared", task=manifest.task,
                    description=str(manifest.raw.get("description", "")),
                )
                row = await queries.insert_version(
                    conn, model=name, version=version, status=queries.READY, format=manifest.format,
                    sha256=manifest.sha256, manifest=manifest.raw, created_by=BUNDLED_OWNER, artefact_key=key,
                )
            if row is not None:
                added.append(manifest.info.ref)
    aliases_file = root / "aliases.json"
    aliases = json.loads(aliases_file.read_text()) if aliases_file.is_file() else {}
    async with db.acquire() as conn:
        for name, tags in aliases.items():
            if name not in names:
                log.warning("aliases.json names %s, which is not in %s; its aliases are left out", name, root)
                continue
            for alias, version in tags.items():
                await queries.ensure_alias(
                    conn, model=name, alias=alias, targets=[{"version": version, "weight": 100}], actor=BUNDLED_OWNER
                )
    for packaged in PACKAGED:
        if await register_packaged(db, blobs, packaged):
            added.append(f"{packaged.name}@{packaged.version}")
    if added:
        log.info("registered the bundled models %s", ", ".join(added))
    return added


async def register_packaged(db: asyncpg.Pool, blobs: BlobStore, model: PackagedModel) -> bool:
    """Register one packaged model as shared and ready, with its aliases; whether it was added.

    The artefact is copied into the blob store only after its sha256 matched the pinned digest
    and `swath.models.artefacts` found nothing in it that executes code. A package that is not
    installed, or holds another file, is logged and skipped: the other models still register.
    """
    key = artefact_key(model.name, model.version, ARTEFACT_NAMES[model.manifest["format"]])
    async with db.acquire() as conn:
        known = await queries.get_version(conn, model=model.name, version=model.version)
    if known is not None and await blobs.exists(ref_of(key)):
        return False
    path = model.path()
    if path is None:
        log.error("not registering %s@%s: the package %s (or its %s) is not installed",
                  model.name, model.version, model.package, model.file)
        return False
    actual = await asyncio.to_thread(sha256_file, path)
    if actual != model.sha256:
        log.error("not registering %s@%s: %s has sha256 %s, not the pinned %s (another release of %s?)",
                  model.name, model.version, path, actual, model.sha256, model.package)
        return False
    try:
        await asyncio.to_thread(inspect_artefact, model.manifest["format"], path)
    except UnsafeArtefactError as err:
        log.error("not registering %s@%s: %s", model.name, model.version, err)
        return False
    if not await blobs.exists(ref_of(key)):
        await blobs.put(key, await asyncio.to_thread(path.read_bytes))
    stored = stored_manifest(model.pushed_manifest(), name=model.name, version=model.version,
                             created_at=model.created_at)
    async with db.acquire() as conn:
        await queries.insert_model(
            conn, name=model.name, owner=BUNDLED_OWNER, visibility="shared", task=model.manifest["task"],
            description=model.description,
        )
        row = await queries.insert_version(
            conn, model=model.name, version=model.version, status=queries.READY, format=model.manifest["format"],
            sha256=model.sha256, manifest=stored, created_by=BUNDLED_OWNER, artefact_key=key,
        )
        for alias in model.aliases:
            await queries.ensure_alias(
                conn, model=model.name, alias=alias, targets=[{"version": model.version, "weight": 100}],
                actor=BUNDLED_OWNER,
            )
    return row is not None
