"""`make run`'s sample is a client like any other: another client exhausting the same tenant's rate
limit from the stack's first second neither stops the sample nor the stack."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.utils.polling import eventually
from tests.utils.stack import start_stack, stack_env, stop_stack

#: How long the other client keeps the tenant over its limit.
HAMMER_S = 20.0
#: What `swath up --demo` prints once the sample scene's map is downloaded: the sample's last step.
SAMPLE_DONE = "(a COG: opens in QGIS)"


@pytest.mark.slow
async def test_the_sample_finishes_while_another_client_exhausts_the_tenants_rate_limit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = stack_env(data, rate_limit_per_key="5/second", rate_limit_per_tenant="5/second")
    api_url = f"http://127.0.0.1:{env['SWATH_API_PORT']}"
    statuses: list[int] = []

    async def hammer() -> None:
        """As soon as the dev key exists, ask for the tenant's runs as fast as the API answers."""
        key_file = data / "dev-api-key"
        await eventually(key_file.exists, timeout=240)
        headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
        async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=5) as http:
            ends = None
            while ends is None or time.monotonic() < ends:
                try:
                    statuses.append((await http.get("/v1/runs", params={"limit": 1})).status_code)
                    ends = ends or time.monotonic() + HAMMER_S
                except httpx.TransportError:
                    await asyncio.sleep(0.05)  # the API is not up yet

    other = asyncio.create_task(hammer())
    stack = await start_stack(data, env, "--demo")
    try:
        await other
        assert 429 in statuses, "the other client never exhausted the limit"
        log = data.parent / f"{data.name}-swath-up.log"

        def sample_done() -> bool:
            text = log.read_text(errors="replace")
            assert "did not complete" not in text, text[-2000:]
            return SAMPLE_DONE in text

        await eventually(sample_done, timeout=420, interval=1, what="the sample never finished")
        assert stack.proc.returncode is None, "swath up stopped"
        async with stack.client() as http:
            assert (await http.get("/v1/runs", params={"limit": 1})).status_code == 200  # still serving
    finally:
        await stop_stack(stack)
