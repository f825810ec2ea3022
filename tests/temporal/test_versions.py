"""The drain check: a build refuses to start while a run of a workflow type it retired is open.

A run of a retired type is made the way an old build left it: started under that type name on a
queue no worker of this build polls, so it stays open until terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from swath.cli import main as swath_main
from swath.domain.errors import UndrainedVersionsError
from swath.temporal.versions import RETIRED_RUN_TYPES, ensure_drained, open_runs_of

RETIRED = RETIRED_RUN_TYPES[-1]


async def _until(condition, client: Client) -> None:
    """Visibility is eventually consistent: wait until the count shows what was just done."""
    for _ in range(200):
        if await condition(client):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("visibility never caught up")


@pytest.fixture
async def open_retired_run(temporal_env: WorkflowEnvironment) -> AsyncIterator[WorkflowHandle]:
    client = temporal_env.client
    handle = await client.start_workflow(
        RETIRED, {"run_id": "r"}, id=f"run-{uuid.uuid4()}", task_queue=f"retired-{uuid.uuid4().hex[:8]}"
    )

    async def counted(c: Client) -> bool:
        return (await open_runs_of(c)).by_type.get(RETIRED, 0) >= 1

    await _until(counted, client)
    yield handle
    with contextlib.suppress(RPCError):  # a test may have terminated it already
        await handle.terminate("drain test over")

    async def gone(c: Client) -> bool:
        return (await open_runs_of(c)).drained

    await _until(gone, client)


async def test_an_open_run_of_a_retired_type_is_refused_by_name(
    temporal_env: WorkflowEnvironment, open_retired_run: WorkflowHandle
) -> None:
    found = await open_runs_of(temporal_env.client)
    assert not found.drained and found.by_type[RETIRED] >= 1
    with pytest.raises(UndrainedVersionsError, match=f"of type {RETIRED}"):
        await ensure_drained(temporal_env.client)


async def test_runs_of_hosted_types_do_not_count(temporal_env: WorkflowEnvironment) -> None:
    # The fixture is not used: the namespace holds no open run of a retired type.
    found = await ensure_drained(temporal_env.client)
    assert found.drained and "drained" in found.describe()


async def test_swath_temporal_drain_check_exits_1_while_a_run_is_open_and_0_once_drained(
    temporal_env: WorkflowEnvironment, open_retired_run: WorkflowHandle,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SWATH_MODE", "dev")
    monkeypatch.setenv("SWATH_TEMPORAL_ADDRESS", temporal_env.client.service_client.config.target_host)
    monkeypatch.setenv("SWATH_TEMPORAL_NAMESPACE", temporal_env.client.namespace)
    # The CLI runs its own event loop, so it runs in a thread of its own here.
    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(swath_main, ["temporal", "drain-check"])
    assert isinstance(refused.value.code, str) and f"of type {RETIRED}" in refused.value.code
    assert "swath temporal" in refused.value.code

    await open_retired_run.terminate("drained by hand")

    async def gone(c: Client) -> bool:
        return (await open_runs_of(c)).drained

    await _until(gone, temporal_env.client)
    with pytest.raises(SystemExit) as done:
        await asyncio.to_thread(swath_main, ["temporal", "drain-check"])
    assert done.value.code == 0
    assert "drained" in capsys.readouterr().out
