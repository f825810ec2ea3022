"""An in-process OTLP/HTTP trace receiver on 127.0.0.1: accepts `POST /v1/traces` and keeps every span."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.utils.loopback_http import QuietHandler, serving


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, its ids as hex."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    raw: str


@dataclass
class SpanStore:
    """What the receiver got, shared with its handler threads."""

    spans: list[ReceivedSpan]
    lock: threading.Lock

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.snapshot() if s.trace_id == trace_id]

    async def wait_for_trace(
        self, trace_id: str, done: Callable[[list[ReceivedSpan]], bool], timeout_s: float
    ) -> list[ReceivedSpan]:
        """The trace's spans once `done` says they are all there, or as they are after `timeout_s`
        (the caller's assertions then say what is missing)."""
        deadline = time.monotonic() + timeout_s
        while not done(spans := self.trace(trace_id)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return spans


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind) if kind else None


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, SpanStore]]:
    """Serve; yields the base URL (an `OTEL_EXPORTER_OTLP_ENDPOINT`) and the spans received so far."""
    store = SpanStore([], threading.Lock())

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.answer(404)
                return
            request = ExportTraceServiceRequest.FromString(body)
            spans = []
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        spans.append(ReceivedSpan(
                            service=resource.get("service.name", ""),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                            status_message=span.status.message,
                            raw=str(span),
                        ))
            with store.lock:
                store.spans.extend(spans)
            self.send_response(200)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    with serving(Handler) as port:
        yield f"http://127.0.0.1:{port}", store
