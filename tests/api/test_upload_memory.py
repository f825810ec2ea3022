"""A streamed upload does not grow the API process: the body goes from the socket to the blob
store chunk by chunk. The API runs in a process of its own (`python -m api`), so its resident
memory is read from /proc, not mixed with the test's. The peak (`VmHWM`) is compared as well as
the resident size: a body held whole and freed afterwards would leave the resident size as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from swath.embedded.ports import free_port
from swath.settings import Settings
from tests.conftest import make_key
from tests.security.conftest import bearer, unique_tenant

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
#: What a streamed upload may add to the API's resident memory, however large the file.
GROWTH_ALLOWED_BYTES = 8 * MIB
START_TIMEOUT_S = 60


def memory_bytes(pid: int) -> dict[str, int]:
    """The process's resident set size now (`VmRSS`) and at its peak so far (`VmHWM`)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {name: int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM")}


@pytest.fixture
def api_process(settings: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """The API as a process of its own, on the session's PostgreSQL and Temporal, blobs under tmp_path."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SWATH_MODE": "dev",
        "SWATH_DATA_DIR": str(tmp_path),
        "SWATH_DATABASE_URL": settings.dsn,
        "SWATH_TEMPORAL_ADDRESS": settings.temporal_address,
        "SWATH_API_PORT": str(port),
        "SWATH_RATE_LIMIT_ENABLED": "false",
    }
    process = subprocess.Popen([sys.executable, "-m", "api"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, "the API exited"
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API never started"
            time.sleep(0.1)
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def generated(size: int, seed: bytes = b"") -> AsyncIterator[bytes]:
    """`size` bytes made as they are sent: a block of 1 MiB, repeated (never the whole file)."""
    block = hashlib.sha256(seed).digest() * (MIB // 32)
    for at in range(0, size, MIB):
        yield block[: min(MIB, size - at)]


def expected_sha256(size: int, seed: bytes = b"") -> str:
    block = hashlib.sha256(seed).digest() * (MIB // 32)
    digest = hashlib.sha256()
    for at in range(0, size, MIB):
        digest.update(block[: min(MIB, size - at)])
    return digest.hexdigest()


@pytest.mark.parametrize("size", [50 * MIB, pytest.param(200 * MIB, marks=pytest.mark.slow)], ids=["50MB", "200MB"])
async def test_a_streamed_upload_barely_grows_the_api_process(
    api_process: tuple[subprocess.Popen, str], db: asyncpg.Pool, tmp_path: Path, size: int
) -> None:
    process, url = api_process
    key = await make_key(db, unique_tenant(), ["runs:write"])
    async with httpx.AsyncClient(base_url=url, headers=bearer(key), timeout=120) as http:
        # A first upload warms every code path (thread pool, hashing, the store's folders).
        warm = await http.put("/v1/blobs/warm-up.bin", content=generated(4 * MIB),
                              headers={"Content-Length": str(4 * MIB)})
        assert warm.status_code == 201, warm.text
        before = memory_bytes(process.pid)
        response = await http.put("/v1/blobs/scene.tif", content=generated(size, b"scene"),
                                  headers={"Content-Length": str(size)})
        after = memory_bytes(process.pid)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    assert response.json()["sha256"] == expected_sha256(size, b"scene")
    stored = next((tmp_path / "blobs" / "tenants").glob("*/uploads/scene.tif"))
    assert stored.stat().st_size == size
    for name in ("VmRSS", "VmHWM"):
        growth = after[name] - before[name]
        print(f"API {name} {before[name] / MIB:.1f} MiB before, {after[name] / MIB:.1f} MiB after {size // MIB} MiB")
        assert growth <= GROWTH_ALLOWED_BYTES, f"the API's {name} grew by {growth / MIB:.1f} MiB"
