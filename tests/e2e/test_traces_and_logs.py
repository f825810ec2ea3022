"""One trace per run and JSON logs, through the whole stack (`swath up` as real processes) exporting
to an in-process OTLP/HTTP receiver."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from swath.embedded.stack import DEV_TENANT
from swath.lab.samples import sample_dir
from swath.temporal.catalog import ANALYSIS_RUN
from tests.utils.loopback_http import QuietHandler, serving
from tests.utils.otlp_receiver import ReceivedSpan, SpanStore, otlp_receiver
from tests.utils.runs_helpers import sample_inputs, wait_until_done
from tests.utils.stack import RunningStack, stack_env, start_stack, stop_stack
from tests.webhooks.receiver import Receiver

#: Every activity of a run with a webhook, each a span of the run's trace.
RUN_ACTIVITIES = ("ingest_inputs", "run_inference_chunk", "finish_run", "deliver_webhook")
SPANS_TIMEOUT_S = 60
#: The OTLP span kinds, as numbers on the wire.
SERVER, CLIENT = 2, 3


class TileServer(QuietHandler):
    """Serves a sample tile at `/tile.npy` whatever the query."""

    tile = (sample_dir() / "tiles" / "tile-01.npy").read_bytes()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.answer(200, self.tile) if self.path.split("?")[0] == "/tile.npy" else self.answer(404)


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[str, SpanStore]]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, collector: tuple[str, SpanStore]
) -> AsyncIterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("traced") / "data"
    env = stack_env(data_dir, otel_exporter_otlp_endpoint=collector[0], log_format="json")
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"  # milliseconds: spans reach the receiver soon after they end
    running = await start_stack(data_dir, env)
    yield running
    if running.proc.returncode is None:
        await stop_stack(running)


@pytest.fixture(scope="module")
async def traced_run(stack: RunningStack, collector: tuple[str, SpanStore]) -> AsyncIterator[tuple[dict, str]]:
    """A run with a signed URL input and a webhook, finished and delivered; and the URL secret."""
    secret = f"s3cr3t{uuid.uuid4().hex}"
    with serving(TileServer) as tiles:
        inputs = [
            *sample_inputs(17),  # two inference chunks
            {"id": "signed", "uri": f"http://reader:{secret}@127.0.0.1:{tiles}/tile.npy?X-Amz-Signature={secret}"},
        ]
        async with Receiver() as receiver, stack.client() as client:
            hook = receiver.path()
            webhook = {"url": f"{receiver.url(hook)}?t={secret}"}
            body = {"model": "crop-classifier", "inputs": inputs, "webhook": webhook}
            created = await client.post("/v1/runs", json=body)
            assert created.status_code == 202, created.text
            assert created.json()["trace_id"] is not None
            await wait_until_done(client, created.json()["id"], timeout=180)
            await receiver.wait_for(hook, 1)
            run = (await client.get(f"/v1/runs/{created.json()['id']}")).json()
    yield run, secret


def _complete(spans: list[ReceivedSpan]) -> bool:
    """Whether the trace holds a span of every activity, the webhook's POST, and every span's parent."""
    names = {s.name for s in spans}
    ids = {s.span_id for s in spans}
    return (
        all(f"RunActivity:{name}" in names for name in RUN_ACTIVITIES)
        and any(s.service == "swath-notify" and s.kind == CLIENT for s in spans)
        and all(not s.parent_span_id or s.parent_span_id in ids for s in spans)
    )


async def test_one_trace_spans_the_request_workflow_activities_and_webhook(
    traced_run: tuple[dict, str], collector: tuple[str, SpanStore]
) -> None:
    run, secret = traced_run
    assert run["status"] == "complete", run["error"]
    trace_id = run["trace_id"]
    assert len(trace_id) == 32 and int(trace_id, 16)
    spans = await collector[1].wait_for_trace(trace_id, _complete, SPANS_TIMEOUT_S)
    by_name: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)

    (root,) = [s for s in spans if not s.parent_span_id]
    assert root.service == "swath-api" and root.kind == SERVER and root.name == "POST /v1/runs"
    assert (root.attributes["swath.run_id"], root.attributes["swath.tenant"], root.attributes["swath.model"]) == (
        run["id"], DEV_TENANT, "crop-classifier@1.0.0"
    )
    # The client's later requests on the same connection (polling the run) have traces of their own.
    assert [s.name for s in spans if s.kind == SERVER and s.service == "swath-api"] == ["POST /v1/runs"]
    ids = {s.span_id for s in spans}
    orphans = [f"{s.service} {s.name}" for s in spans if s.parent_span_id and s.parent_span_id not in ids]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"
    assert f"StartWorkflow:{ANALYSIS_RUN.name}" in by_name and f"RunWorkflow:{ANALYSIS_RUN.name}" in by_name
    services = {
        "ingest_inputs": "swath-ingest", "run_inference_chunk": "swath-inference",
        "finish_run_local": "swath-orchestration", "deliver_webhook": "swath-notify",
    }
    for activity, service in services.items():
        activity_spans = by_name.get(f"RunActivity:{activity}", [])
        assert activity_spans, f"no span of {activity}; the trace has {sorted(by_name)}"
        for span in activity_spans:
            assert span.service == service and span.attributes["swath.run_id"] == run["id"]
            assert span.attributes["swath.tenant"] == DEV_TENANT
    assert len(by_name["RunActivity:run_inference_chunk"]) == 2
    chunk = by_name["RunActivity:run_inference_chunk"][0]
    assert chunk.attributes["swath.model"] == "crop-classifier@1.0.0"
    assert sorted(s.attributes["swath.batch_size"] for s in by_name["RunActivity:run_inference_chunk"]) == [2, 16]
    # The URL fetch and the webhook POST are client spans of the run too, their URLs redacted.
    fetches = [s for s in spans if s.kind == CLIENT and s.service == "swath-ingest"]
    urls = [str(s.attributes.get("url.full", s.attributes.get("http.url"))) for s in fetches]
    assert any("X-Amz-Signature=REDACTED" in url for url in urls), urls
    assert any(s.kind == CLIENT and s.service == "swath-notify" for s in spans)
    leaks = [f"{s.service} {s.name}" for s in collector[1].snapshot() if secret in s.raw]
    assert not leaks, f"the URL secret is in spans {leaks}"


async def test_the_temporal_ui_summary_ends_with_the_trace_id(
    traced_run: tuple[dict, str], stack: RunningStack
) -> None:
    run, _ = traced_run
    temporal = await Client.connect(stack.temporal_address)
    description = await temporal.get_workflow_handle(f"run-{run['id']}").describe()
    assert await description.static_summary() == (
        f"crop-classifier@1.0.0 · 18 tiles · tenant {DEV_TENANT} · trace {run['trace_id']}"
    )
    assert await description.static_details() is None


def test_every_line_of_every_process_is_json_and_run_lines_name_the_run(
    traced_run: tuple[dict, str], stack: RunningStack
) -> None:
    run, secret = traced_run
    workflow_id = f"run-{run['id']}"
    run_lines: list[dict] = []
    polls: list[dict] = []
    for log in sorted((stack.data_dir / "logs").glob("*.log")):
        if log.stem not in ("api",) and not log.stem.startswith("pool-"):
            continue  # PostgreSQL's and Temporal's own logs
        text = log.read_text()
        assert secret not in text, f"the URL secret is in {log.name}"
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith("--- "):  # the supervisor's marker of each start
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"{log.name}:{number} is not JSON: {line[:200]}")
            assert entry["role"] == log.stem.removeprefix("pool-") and entry["ts"].endswith("+00:00")
            if entry["logger"] == "uvicorn.access" and f"GET /v1/runs/{run['id']}" in entry["message"]:
                polls.append(entry)
            if entry["workflow_id"] == workflow_id or run["id"] in entry["message"]:
                run_lines.append(entry)
    assert run_lines, "no log line concerns the run"
    assert all(entry["run_id"] == run["id"] for entry in run_lines), [e for e in run_lines if e["run_id"] != run["id"]]
    # Polling the run on the connection that created it is a request of its own, in a trace of its own.
    assert polls and all(e["trace_id"] not in (None, run["trace_id"]) for e in polls)
    finished = [e for e in run_lines if e["activity"] == "finish_run_local"]
    assert finished and all(e["trace_id"] == run["trace_id"] and e["span_id"] for e in finished)
