"""`python -m api` on SIGTERM: it stops accepting connections, lets the upload in flight finish
(201, stored whole), and then exits, well within `SWATH_API_DRAIN_S`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from swath.blobstore import open_blob_store
from swath.embedded.ports import free_port
from swath.settings import Settings
from tests.conftest import make_key

CHUNK = 64 * 1024
CHUNKS = 40


async def test_sigterm_lets_an_upload_in_flight_finish(
    settings: Settings, db: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    port = free_port()
    env = {
        **os.environ, "SWATH_MODE": "dev", "SWATH_API_PORT": str(port), "SWATH_DATA_DIR": str(settings.data_dir),
        "SWATH_DATABASE_URL": settings.dsn, "SWATH_TEMPORAL_ADDRESS": settings.temporal_address,
        "SWATH_API_DRAIN_S": "30",
    }
    api = await asyncio.create_subprocess_exec(sys.executable, "-m", "api", env=env)
    key = await make_key(db, "acme", ["runs:write"])
    base = f"http://127.0.0.1:{port}"
    name = f"drained-{uuid.uuid4().hex[:8]}.bin"
    halfway = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        for n in range(CHUNKS):
            if n == CHUNKS // 2:
                halfway.set()
                await asyncio.sleep(1.0)  # SIGTERM arrives while the rest is still to come
            yield bytes([n]) * CHUNK
            await asyncio.sleep(0.02)

    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            for _ in range(600):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the API never became ready")
            upload = asyncio.create_task(http.put(f"/v1/blobs/{name}", content=body()))
            await halfway.wait()
            api.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            # No new connections once draining...
            try:
                async with httpx.AsyncClient(base_url=base, timeout=2) as fresh:
                    await fresh.get("/healthz")
                refused = False
            except httpx.TransportError:
                refused = True
            response = await upload
        assert refused, "a draining API accepted a new connection"
        # ...but the request in flight completes.
        assert response.status_code == 201, response.text
        # uvicorn shuts down gracefully, then re-raises the signal it caught: "ended by SIGTERM".
        assert await asyncio.wait_for(api.wait(), timeout=30) == -signal.SIGTERM
    finally:
        if api.returncode is None:
            api.kill()
            await api.wait()
    stored = await open_blob_store(settings).get(response.json()["uri"])
    assert stored == b"".join(bytes([n]) * CHUNK for n in range(CHUNKS))
