"""Every pool's own HTTP port: live at once, ready once it polls (the inference pool: once its
models warmed up), and its metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import httpx
from temporalio.testing import WorkflowEnvironment

from swath.embedded.ports import free_port
from swath.models.registry import ModelRegistry
from swath.settings import BUNDLED_REGISTRY, Settings
from workers.health import PoolHealth


async def test_ready_only_once_told() -> None:
    health = PoolHealth("127.0.0.1", 0)
    health.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health.port}") as http:
            assert (await http.get("/livez")).status_code == 200
            assert (await http.get("/readyz")).status_code == 503
            health.ready.set()
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/nothing")).status_code == 404
    finally:
        health.stop()


async def test_a_pool_process_serves_probes_and_metrics(temporal_env: WorkflowEnvironment) -> None:
    port = free_port()
    env = {
        **os.environ, "SWATH_MODE": "dev", "SWATH_POOL_HTTP_PORT": str(port),
        "SWATH_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
    }
    pool = await asyncio.create_subprocess_exec(sys.executable, "-m", "workers", "--pool", "orchestration", env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            for _ in range(600):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass  # not listening yet
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the pool never became ready")
            assert (await http.get("/livez")).status_code == 200
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200 and "python_info" in metrics.text
            # The SDK's series share the port: the worker's slots and pollers exist once it polls.
            assert 'temporal_worker_task_slots_available{' in metrics.text
    finally:
        if pool.returncode is None:
            pool.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(pool.wait(), timeout=60) == 0


#: How long the pool may take to register, fetch and warm every production model (cloud-mask's
#: onnxruntime session included) on a busy 2-core machine.
WARM_UP_WAIT_S = 240


async def test_the_inference_pool_is_ready_only_after_its_models_warmed_up(
    temporal_env: WorkflowEnvironment, tmp_path, db_dsn: str, settings: Settings
) -> None:
    """Every `/readyz` 200 is followed by metrics that already show each production model warmed
    up (the gauge is set when warm-up ends), and the pool's log says so before it polls. The
    production aliases are the stored registry's (PostgreSQL), where the pool registers the
    bundled models as it starts."""
    registry = ModelRegistry(BUNDLED_REGISTRY)
    models = [registry.resolve(name).info.ref for name in registry.production_models()]
    assert len(models) == 2
    port = free_port()
    env = {
        # The session's data directory: its blob store holds the artefacts the database's versions name.
        **os.environ, "SWATH_MODE": "dev", "SWATH_POOL_HTTP_PORT": str(port), "SWATH_DATA_DIR": str(settings.data_dir),
        "SWATH_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "SWATH_INFERENCE_DEVICE": "cpu", "SWATH_DATABASE_URL": db_dsn,
    }
    log_path = tmp_path / "pool.log"
    with log_path.open("wb") as log_file:
        pool = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workers", "--pool", "inference", env=env, stderr=log_file
        )
    starting = 0
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = time.monotonic() + WARM_UP_WAIT_S
            while time.monotonic() < deadline:
                assert pool.returncode is None, f"the pool exited with {pool.returncode}:\n{log_path.read_text()[-3000:]}"
                try:
                    ready = (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    await asyncio.sleep(0.05)  # not listening yet
                    continue
                metrics = (await http.get("/metrics")).text
                warmed = [m for m in models if f'swath_inference_warm_up_seconds{{model="{m}"}}' in metrics]
                if ready:
                    assert warmed == models, "ready before every model had warmed up"
                    assert f'swath_inference_max_batch_size{{model="{models[0]}"}}' in metrics
                    break
                starting += 1
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the inference pool never became ready")
    finally:
        if pool.returncode is None:
            pool.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(pool.wait(), timeout=60) == 0
    log = log_path.read_text()
    polling = log.index("polling")
    assert all(-1 < log.find(f"warmed up {m}") < polling for m in models), log[-3000:]
    assert starting > 0  # the port answered "starting" while the pool loaded and warmed its models
