"""One real `swath up` stack for every failure test: a registry copy with extra models, a fault file,
and an in-process OTLP receiver for its spans.

The stack runs on free ports with its own data dir; processes are found (and killed) only
through that data dir, never by name, so other stacks on the machine are left alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from swath.settings import BUNDLED_REGISTRY
from tests.utils.otlp_receiver import SpanStore, otlp_receiver
from tests.utils.stack import RunningStack, stack_env, start_stack, stop_stack
from tests.failures.helpers import Faults, register_copy

#: Extra models in the stack's registry: (name, copied from, fallback, corrupt weights).
MODELS = [
    ("flaky-classifier", "1.0.0", "crop-classifier@0.9.0", False),
    ("doomed-classifier", "1.0.0", "doomed-lite@0.9.0", False),
    ("doomed-lite", "0.9.0", None, False),
    ("corrupt-classifier", "1.0.0", None, True),
    ("breaker-classifier", "1.0.0", None, False),
    ("hang-classifier", "1.0.0", None, False),
    ("poison-classifier", "1.0.0", None, False),
]
#: Breaker settings small enough for one short run to open it.
BREAKER_MIN_ATTEMPTS = 4
BREAKER_COOLDOWN_S = 20


@pytest.fixture(scope="package")
def registry_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("registry")
    (root / "aliases.json").write_text((BUNDLED_REGISTRY / "aliases.json").read_text())
    for version in ("1.0.0", "0.9.0"):
        register_copy(BUNDLED_REGISTRY / "crop-classifier" / version, root, "crop-classifier")
    for name, source, fallback, corrupt in MODELS:
        register_copy(BUNDLED_REGISTRY / "crop-classifier" / source, root, name, fallback=fallback, corrupt=corrupt)
    return root


@pytest.fixture(scope="package")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Faults:
    return Faults(tmp_path_factory.mktemp("faults") / "faults.json")


@pytest.fixture(scope="package")
def collector() -> Iterator[tuple[str, SpanStore]]:
    """An OTLP/HTTP receiver's URL and the spans the stack's processes sent it."""
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="package")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, registry_dir: Path, faults: Faults, collector: tuple[str, SpanStore]
) -> AsyncIterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("failure-stack") / "data"
    env = stack_env(
        data_dir,
        model_registry_dir=str(registry_dir),
        fault_injection_file=str(faults.path),
        inference_chunk_size="2",
        breaker_min_attempts=str(BREAKER_MIN_ATTEMPTS),
        breaker_cooldown_s=str(BREAKER_COOLDOWN_S),
        otel_exporter_otlp_endpoint=collector[0],
        # Scenes: many small blocks, one at a time, so a kill falls between finished blocks.
        scene_block_size="256",
        scene_block_concurrency="1",
    )
    env.pop("SWATH_MODE", None)
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # milliseconds: spans reach the receiver soon after they end
    running = await start_stack(data_dir, env)
    yield running
    if running.proc.returncode is None:
        await stop_stack(running)


def manifest(registry_dir: Path, name: str, version: str = "1.0.0") -> dict:
    return json.loads((registry_dir / name / version / "manifest.json").read_text())
