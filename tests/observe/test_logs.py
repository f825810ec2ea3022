"""JSON logs: the schema, the run context from a real activity and workflow, redaction of messages and extras."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.sdk.trace import TracerProvider
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from swath.domain.redact import RedactingFilter
from swath.observe.logs import configure_logging, CONTEXT_FIELDS, JsonFormatter, RunContextFilter, bind_run

SCHEMA = {"ts", "level", "role", "logger", "message", *CONTEXT_FIELDS}


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose lines go through the filters and formatter `configure_logging` installs."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    handler.addFilter(RunContextFilter("ingest"))
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"tests.logs.{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, out
    logger.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_has_the_schema_and_a_traceback_goes_to_exc(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_lines
    logger.info("plain %d", 1)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")

    plain, failed = lines(out)
    assert SCHEMA <= set(plain) and "exc" not in plain
    assert plain["message"] == "plain 1" and plain["level"] == "INFO" and plain["role"] == "ingest"
    assert plain["logger"] == logger.name
    assert all(plain[name] is None for name in CONTEXT_FIELDS)
    ts = datetime.fromisoformat(plain["ts"])
    assert ts.utcoffset() == timedelta(0) and abs(datetime.now(timezone.utc) - ts) < timedelta(minutes=5)
    assert failed["level"] == "ERROR" and "ValueError: boom" in failed["exc"] and "Traceback" in failed["exc"]


def test_a_secret_in_the_message_or_an_extra_field_is_redacted(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_lines
    secret = f"s3cr3t{uuid.uuid4().hex}"
    logger.warning(
        "GET %s failed", f"https://reader:{secret}@tiles.example/t.npy?X-Amz-Signature={secret}",
        extra={"url": f"https://tiles.example/t?token={secret}", "auth": {"header": f"Bearer {secret}"}, "n": 3},
    )
    try:
        raise RuntimeError(f"cannot reach https://tiles.example/?sig={secret}")
    except RuntimeError:
        logger.exception("fetch")

    text = out.getvalue()
    assert secret not in text
    warned, fetch = lines(out)
    assert warned["message"] == "GET https://REDACTED@tiles.example/REDACTED?X-Amz-Signature=REDACTED failed"
    assert warned["url"] == "https://tiles.example/REDACTED?token=REDACTED"
    assert warned["auth"] == {"header": "Bearer REDACTED"} and warned["n"] == 3
    assert "sig=REDACTED" in fetch["exc"]


def test_the_api_binds_the_run_and_the_current_span_gives_the_trace(
    json_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = json_lines
    tracer = TracerProvider().get_tracer("tests")
    run_id = uuid.uuid4()
    with bind_run(run_id), tracer.start_as_current_span("request") as span:
        logger.info("inside")
    logger.info("after")

    inside, after = lines(out)
    context = span.get_span_context()
    assert inside["run_id"] == str(run_id)
    assert inside["trace_id"] == f"{context.trace_id:032x}" and inside["span_id"] == f"{context.span_id:016x}"
    assert inside["workflow_id"] is None and inside["activity"] is None
    assert after["run_id"] is None and after["trace_id"] is None


def test_a_line_may_name_its_run(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_lines
    with bind_run("bound"):
        logger.info("a delivery attempt", extra={"run_id": "named"})
    (line,) = lines(out)
    assert line["run_id"] == "named"


@activity.defn(name="logs_test_step")
async def step(note: str) -> str:
    logging.getLogger("tests.logs.step").info("plain logger: %s", note)
    activity.logger.info("sdk logger: %s", note)
    return note


@workflow.defn(name="LogsTestWorkflow")
class StepWorkflow:
    @workflow.run
    async def run(self, note: str) -> str:
        workflow.logger.info("workflow logger: %s", note)
        return await workflow.execute_activity(step, note, start_to_close_timeout=timedelta(seconds=30))


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """JSON lines of the SDK's loggers and `tests.logs.step`, as a pool's process writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    handler.addFilter(RunContextFilter("ingest"))
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("tests.logs.step", "temporalio.activity", "temporalio.workflow")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield out
    for logger, level in zip(loggers, levels):
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_lines_from_a_real_activity_and_workflow_carry_the_run(
    temporal_env: WorkflowEnvironment, captured: io.StringIO
) -> None:
    run_id = str(uuid.uuid4())
    note = uuid.uuid4().hex
    queue = f"logs-{uuid.uuid4().hex}"
    async with Worker(
        temporal_env.client, task_queue=queue, workflows=[StepWorkflow], activities=[step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        assert await temporal_env.client.execute_workflow(
            StepWorkflow.run, note, id=f"run-{run_id}", task_queue=queue
        ) == note

    ours = [line for line in lines(captured) if note in line["message"]]
    by_kind = {line["message"].split(":")[0]: line for line in ours}
    assert set(by_kind) == {"plain logger", "sdk logger", "workflow logger"}, ours
    for line in ours:
        assert line["run_id"] == run_id and line["workflow_id"] == f"run-{run_id}"
    assert by_kind["plain logger"]["activity"] == by_kind["sdk logger"]["activity"] == "logs_test_step"
    assert by_kind["workflow logger"]["activity"] is None


def test_uvicorn_access_lines_in_text_format_are_written_redacted() -> None:
    """uvicorn's own access formatter reads `args`, which the redaction folds into the message."""
    import uvicorn.config

    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    access = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    (handler,) = access.handlers
    handler.setStream(stream)
    configure_logging(role="api", fmt="text")
    errors: list[BaseException | None] = []
    handler.handleError = lambda record: errors.append(sys.exc_info()[1])  # type: ignore[method-assign]
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/v1/x?from=https://user:hunter2pass@host/a", "1.1", 200)
    assert errors == []
    line = stream.getvalue()
    assert '"GET /v1/x?from=https://' in line and " 200" in line and "hunter2pass" not in line
