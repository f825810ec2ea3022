"""Start-up refuses a namespace Swath cannot use, and `swath temporal setup` makes it usable."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from swath.cli import main as swath_main
from swath.domain.errors import TemporalSetupError
from swath.settings import Mode, Settings
from swath.temporal.client import connect_temporal, connect_unchecked
from swath.temporal.namespace import WANTED, missing_search_attributes


async def _new_namespace(env: WorkflowEnvironment) -> str:
    name = f"swath-setup-{uuid.uuid4().hex[:8]}"
    await env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    return name


def _settings(env: WorkflowEnvironment, namespace: str) -> Settings:
    return Settings(
        mode=Mode.DEV, temporal_address=env.client.service_client.config.target_host, temporal_namespace=namespace
    )


async def test_a_missing_namespace_is_refused_by_name(temporal_env: WorkflowEnvironment) -> None:
    with pytest.raises(TemporalSetupError, match="'no-such-namespace' does not exist"):
        await connect_temporal(_settings(temporal_env, "no-such-namespace"))


async def test_setup_adds_the_missing_search_attributes_once(
    temporal_env: WorkflowEnvironment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = await _new_namespace(temporal_env)
    settings = _settings(temporal_env, namespace)
    with pytest.raises(TemporalSetupError) as refused:
        await connect_temporal(settings)
    assert "SwathTenant (Keyword)" in str(refused.value) and "swath temporal setup" in str(refused.value)

    monkeypatch.setenv("SWATH_MODE", "dev")
    monkeypatch.setenv("SWATH_TEMPORAL_ADDRESS", settings.temporal_address)
    monkeypatch.setenv("SWATH_TEMPORAL_NAMESPACE", namespace)
    # The CLI runs its own event loop, so it runs in a thread of its own here.
    with pytest.raises(SystemExit) as done:
        await asyncio.to_thread(swath_main, ["temporal", "setup"])
    assert done.value.code == 0
    assert f"added search attributes {', '.join(sorted(WANTED))}" in capsys.readouterr().out

    client = await connect_unchecked(settings)
    for _ in range(100):  # the server's search-attribute cache catches up within a few seconds
        if not await missing_search_attributes(client):
            break
        await asyncio.sleep(0.1)
    assert await missing_search_attributes(client) == []
    assert (await connect_temporal(settings)).namespace == namespace

    with pytest.raises(SystemExit):
        await asyncio.to_thread(swath_main, ["temporal", "setup"])
    assert "nothing to add" in capsys.readouterr().out


async def test_a_pool_exits_with_the_reason_on_an_unprepared_namespace(temporal_env: WorkflowEnvironment) -> None:
    namespace = await _new_namespace(temporal_env)
    env = {
        **os.environ, "SWATH_MODE": "dev", "SWATH_TEMPORAL_NAMESPACE": namespace,
        "SWATH_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
    }
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "workers", "--pool", "orchestration"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "lacks the search attributes" in done.stderr and "Traceback" not in done.stderr


async def test_the_api_refuses_to_start_on_an_unprepared_namespace(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The API's start (its lifespan, which uvicorn runs before serving) fails on the same check."""
    namespace = await _new_namespace(temporal_env)
    app = create_app(settings.model_copy(update={"temporal_namespace": namespace}))
    with pytest.raises(TemporalSetupError, match=f"{namespace!r} lacks the search attributes"):
        async with app.router.lifespan_context(app):
            pass
