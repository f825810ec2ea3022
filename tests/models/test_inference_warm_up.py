"""The inference pool warms its models before it polls (and so before `/readyz` answers 200): every
target of every warm alias by default (followed as the aliases move), the configured ones
otherwise; one whose weights fail their checksum is skipped, and a configured model the registry
lacks refuses the start."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from swath.blobstore import open_blob_store
from swath.db import connect, migrate
from swath.db import models as queries
from swath.db.pool import ensure_database
from swath.domain.errors import StartupError
from swath.embedded.postgres import EmbeddedPostgres
from swath.models.bundled import register_bundled
from swath.models.cache import ModelCache
from swath.models.registry import ModelRegistry
from swath.models.store import StoredRegistry
from swath.settings import BUNDLED_REGISTRY, Settings
from tests.utils.polling import eventually
from workers.pools.inference import keep_warm, warm_up


async def test_every_production_model_is_loaded_by_default() -> None:
    registry = ModelRegistry(BUNDLED_REGISTRY)
    models = ModelCache(registry, device="cpu")
    await warm_up(models, Settings(inference_warm_models=None))
    assert sorted(models.loaded) == ["crop-classifier@1.0.0", "landcover-segmenter@1.0.0"]


async def test_the_configured_models_are_loaded_and_a_broken_one_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "registry"
    shutil.copytree(BUNDLED_REGISTRY / "crop-classifier", root / "crop-classifier")
    (root / "aliases.json").write_text(json.dumps({"crop-classifier": {"production": "1.0.0"}}))
    weights = root / "crop-classifier" / "0.9.0" / "model.safetensors"
    weights.write_bytes(b"not the weights" + weights.read_bytes()[15:])
    registry = ModelRegistry(root)
    models = ModelCache(registry, device="cpu")

    await warm_up(models, Settings(inference_warm_models=["crop-classifier@0.9.0", "crop-classifier"]))

    assert sorted(models.loaded) == ["crop-classifier@1.0.0"]
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not warming")]
    assert [m.split(":")[0] for m in skipped] == ["not warming up crop-classifier@0.9.0"]
    with pytest.raises(StartupError, match="no-such-model"):
        await warm_up(models, Settings(inference_warm_models=["no-such-model"]))


def test_the_setting_is_a_json_list_and_empty_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWATH_INFERENCE_WARM_MODELS", '["crop-classifier@1.0.0"]')
    assert Settings().inference_warm_models == ["crop-classifier@1.0.0"]
    monkeypatch.setenv("SWATH_INFERENCE_WARM_MODELS", "[]")
    assert Settings().inference_warm_models == []
    monkeypatch.delenv("SWATH_INFERENCE_WARM_MODELS")
    assert Settings().inference_warm_models is None


@pytest.fixture
async def own_db(postgres: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own: the pool warms every warm alias it holds, and no other test's."""
    dsn = postgres.dsn(f"swath_warm_{uuid.uuid4().hex[:8]}")
    await ensure_database(dsn)
    pool = await connect(dsn)
    await migrate(pool)
    yield pool
    await pool.close()


async def test_the_targets_of_warm_aliases_are_warmed_and_a_move_is_followed_without_a_restart(
    own_db: asyncpg.Pool, tmp_path: Path
) -> None:
    blobs = open_blob_store(Settings(blob_dir=tmp_path / "blobs"))
    # `production` of each, warm by default (installed packages' models too)
    await register_bundled(own_db, blobs, BUNDLED_REGISTRY)
    async with own_db.acquire() as conn, conn.transaction():
        await queries.set_alias(
            conn, model="crop-classifier", alias="canary", actor="test", expected_revision=None, warm=True,
            targets=[{"version": "1.0.0", "weight": 90}, {"version": "0.9.0", "weight": 10}],
        )
        assert await queries.set_alias_warm(
            conn, model="landcover-segmenter", alias="production", warm=False, actor="test", expected_revision=None,
        )
        shadow = await queries.set_alias(
            conn, model="landcover-segmenter", alias="shadow", actor="test", expected_revision=None,
            targets=[{"version": "1.0.0", "weight": 100}],
        )
    assert shadow is not None and shadow["warm"] is False, "only `production` is warm unless marked"
    models = ModelCache(StoredRegistry(own_db, blobs, tmp_path / "model-cache"), device="cpu")

    warmed = await warm_up(models, Settings(inference_warm_models=None))

    assert sorted(models.loaded) == sorted(warmed)
    assert {"crop-classifier@0.9.0", "crop-classifier@1.0.0"} <= warmed, "every target of a warm canary"
    assert "landcover-segmenter@1.0.0" not in warmed, "no target of an alias that is not warm"

    refresher = asyncio.create_task(keep_warm(models, warmed, every_s=0.05))
    try:
        async with own_db.acquire() as conn:
            await queries.set_alias_warm(
                conn, model="landcover-segmenter", alias="shadow", warm=True, actor="test", expected_revision=None,
            )
        await eventually(lambda: "landcover-segmenter@1.0.0" in models.loaded, timeout=60,
                         what="the newly warm alias's target was not warmed")
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)
        await models.close()
