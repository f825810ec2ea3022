"""Every pool's own HTTP port: live at once, ready once it polls, and its metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
from temporalio.testing import WorkflowEnvironment

from swath.embedded.ports import free_port
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
        pool.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(pool.wait(), timeout=60) == 0
