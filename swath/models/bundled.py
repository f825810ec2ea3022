"""The models that ship with Swath, registered in the stored registry on first start.

Idempotent and safe to run from several processes at once (the API and every inference pool run
it as they start): a model, version or alias that exists is left as it is, so an operator's alias
moves survive restarts, and an artefact already in the blob store is not written again. The
bundled versions are `ready` at once (they are tested with the code that ships them). After
this, no pool reads the bundled folder: they resolve and fetch through the registry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import asyncpg

from swath.blobstore import BlobStore, ref_of
from swath.db import models as queries
from swath.models.registry import ModelRegistry
from swath.models.store import artefact_key

log = logging.getLogger(__name__)

#: Who registered the bundled models (owner and actor in the registry's rows).
BUNDLED_OWNER = "swath"


async def register_bundled(db: asyncpg.Pool, blobs: BlobStore, root: Path) -> list[str]:
    """Register every version under `root` (`<name>/<version>/manifest.json`, `aliases.json`) as
    shared and ready, and its aliases unless they exist; the refs newly added."""
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
    if added:
        log.info("registered the bundled models %s", ", ".join(added))
    return added
