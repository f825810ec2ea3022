"""Tracing setup: off without an endpoint, and nothing secret leaves in an exported span."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from swath.observe import tracing
from swath.settings import Settings


def test_without_an_endpoint_nothing_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in tracing.STANDARD_ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert not tracing.tracing_enabled(Settings())
    assert tracing.configure_tracing(Settings(), role="api") is None
    assert tracing.temporal_interceptors() == []
    assert tracing.current_trace_id() is None


def test_the_standard_variables_turn_tracing_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    assert tracing.tracing_enabled(Settings())
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    assert tracing.tracing_enabled(Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318"))


def test_exported_spans_have_every_string_redacted() -> None:
    secret = f"s3cr3t{uuid.uuid4().hex}"
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.RedactingSpanExporter(memory)))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("GET", attributes={"url.full": f"http://u:{secret}@h/t?sig={secret}"}) as span:
        tracing.annotate(run_id="r1", chunk=2, tenant=None)
        span.add_event("retry", {"why": f"Bearer {secret}", "tries": (f"http://h/?token={secret}", "plain")})
        span.set_status(Status(StatusCode.ERROR, f"cannot GET http://h/t?X-Amz-Signature={secret}"))
        trace_id = tracing.current_trace_id()

    (exported,) = memory.get_finished_spans()
    assert secret not in repr(exported.attributes) + repr(exported.events[0].attributes) + exported.status.description
    assert exported.attributes["url.full"] == "http://REDACTED@h/REDACTED?sig=REDACTED"
    assert exported.attributes["swath.run_id"] == "r1" and exported.attributes["swath.chunk"] == 2
    assert "swath.tenant" not in exported.attributes
    assert exported.events[0].attributes["tries"] == ("http://h/?token=REDACTED", "plain")
    assert exported.status.status_code is StatusCode.ERROR
    assert trace_id == f"{exported.context.trace_id:032x}" and exported.parent is None
