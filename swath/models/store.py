"""`StoredRegistry`: the model registry as a service — versions' artefacts in the blob store,
their manifests, statuses and aliases in PostgreSQL (`swath.db.models`). Torch-free.

Every process of a cluster sees the same registry: the API resolves what a run asks for
(`name`, `name@alias`, `name@version`; a weighted alias chosen from the run id) and records the
exact version; the pools look that exact version up and fetch its artefact from the blob store
into a local cache folder on first use. Only `ready` versions resolve. A ready version never
changes, so its manifest is kept in memory once read; aliases are read fresh on every lookup, so
a move is seen by the next run without a restart.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path

import asyncpg

from swath.blobstore import BlobStore
from swath.db import models as queries
from swath.domain.errors import ModelNotFoundError
from swath.models.canary import Target, choose
from swath.models.registry import DEFAULT_ALIAS, ModelManifest

#: Model names: one blob-key segment, lower case.
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
#: Versions (e.g. semantic versions) and aliases: one blob-key segment.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
_NAME, _VERSION = re.compile(MODEL_NAME_PATTERN), re.compile(VERSION_PATTERN)


def artefact_key(name: str, version: str, file_name: str) -> str:
    """Where an accepted version's artefact lies in the blob store."""
    return f"models/{name}/{version}/{file_name}"


def visible_to(model: dict, tenant: str | None) -> bool:
    """Whether a tenant may see a model (`tenant=None`: a pool, which sees every model)."""
    return tenant is None or model["visibility"] == "shared" or model["owner"] == tenant


class StoredRegistry:
    """Resolves model references against PostgreSQL and serves artefacts from the blob store."""

    def __init__(self, db: asyncpg.Pool, blobs: BlobStore, cache_dir: Path) -> None:
        self.db = db
        self.blobs = blobs
        self.cache_dir = cache_dir
        #: Ready versions by `name@version` with their model's row (immutable once ready).
        self._ready: dict[str, tuple[dict, ModelManifest]] = {}
        self._fetching: dict[str, asyncio.Lock] = {}

    async def lookup(self, ref: str, *, tenant: str | None = None, run_id: str | None = None) -> ModelManifest:
        """`name` (its `production` alias), `name@alias` or `name@version` → the ready version's manifest.

        A weighted alias picks one of its versions from `run_id` (`swath.models.canary`). A model
        `tenant` may not see is unknown, as is a version that is not `ready`.
        """
        name, _, tag = ref.partition("@")
        tag = tag or DEFAULT_ALIAS
        if not _NAME.fullmatch(name) or not _VERSION.fullmatch(tag):
            raise ModelNotFoundError(f"unknown model {ref!r}")
        cached = self._ready.get(f"{name}@{tag}")
        if cached is not None:
            if not visible_to(cached[0], tenant):
                raise ModelNotFoundError(f"unknown model {ref!r}")
            return cached[1]
        async with self.db.acquire() as conn:
            model = await queries.get_model(conn, name=name)
            if model is None or not visible_to(model, tenant):
                raise ModelNotFoundError(f"unknown model {ref!r}")
            version = tag
            alias = await queries.get_alias(conn, model=name, alias=tag)
            if alias is not None:
                targets = [Target(t["version"], t.get("weight", 100)) for t in alias["targets"]]
                version = choose(targets, run_id or "")
            row = await queries.get_version(conn, model=name, version=version)
        if row is None:
            raise ModelNotFoundError(f"unknown model {ref!r}: {name!r} has no version or alias {tag!r}")
        if row["status"] != queries.READY:
            why = f" ({row['reason']})" if row.get("reason") else ""
            raise ModelNotFoundError(f"model {name}@{version} is {row['status']}{why}, not ready to serve")
        manifest = ModelManifest.from_dict(row["manifest"])
        self._ready[f"{name}@{version}"] = (model, manifest)
        return manifest

    async def artefact_path(self, manifest: ModelManifest) -> Path:
        """The version's artefact on this machine, fetched from the blob store on first use (its
        sha256 is checked by the loader, as for every load)."""
        path = self.cache_dir / manifest.name / manifest.version / manifest.weights
        key = artefact_key(manifest.name, manifest.version, manifest.weights)
        lock = self._fetching.setdefault(key, asyncio.Lock())
        async with lock:
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
                try:
                    with open(partial, "wb") as out:
                        async for chunk in await self.blobs.open_stream(f"blob://{key}"):
                            out.write(chunk)
                    os.replace(partial, path)
                finally:
                    partial.unlink(missing_ok=True)
        return path

    async def warm_refs(self) -> list[str]:
        """The versions a pool warms up unasked (`name@version`): every target of every warm alias."""
        async with self.db.acquire() as conn:
            return [f"{model}@{version}" for model, version in await queries.warm_targets(conn)]

    def forget(self, name: str, version: str) -> None:
        """Drop a deleted version from this process's memory."""
        self._ready.pop(f"{name}@{version}", None)
