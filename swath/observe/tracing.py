"""Traces: one OpenTelemetry trace per run, from the API's request through the workflow, every
activity and every webhook attempt.

`configure_tracing` is called once at the start of every process (API, each pool). With an OTLP
endpoint configured (`SWATH_OTEL_EXPORTER_OTLP_ENDPOINT`, or the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) it installs an SDK tracer
provider exporting over OTLP/HTTP in batches, instruments httpx and asyncpg, and makes
`temporal_interceptors` return Temporal's tracing interceptor, which carries the context through
workflow and activity headers. Without one nothing is installed: no provider, no interceptor, no
instrumentation, so tracing costs nothing when it is off.

Spans leave the process only through `RedactingSpanExporter`: every string in a span's
attributes, events and status passes through `swath.domain.redact.redact_text`, so a signed URL or a
token that an instrumentation records never reaches the collector.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from swath.domain.redact import redact_text
from swath.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Interceptor

#: The standard variables the OTLP exporter reads by itself when Swath's own setting is unset.
STANDARD_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_provider: TracerProvider | None = None


def tracing_enabled(settings: Settings) -> bool:
    """Whether an OTLP endpoint is configured, by Swath's setting or the standard variables."""
    return bool(settings.otel_exporter_otlp_endpoint or any(os.environ.get(v) for v in STANDARD_ENDPOINT_VARIABLES))


def configure_tracing(settings: Settings, *, role: str) -> TracerProvider | None:
    """Install the process's tracer provider (`service.name` = `swath-<role>`); `None` when tracing is off.

    Idempotent: a second call returns the provider of the first. Spans are flushed when the
    process exits (the provider's own exit hook) or by `provider.shutdown()`.
    """
    global _provider
    if _provider is not None or not tracing_enabled(settings):
        return _provider
    # Imported here: a process with tracing off never loads the SDK's exporter or instrumentations.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otel_exporter_otlp_endpoint
    # Without Swath's setting the exporter reads the standard variables itself (and their headers).
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces") if endpoint else OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"swath-{role}"}))
    provider.add_span_processor(BatchSpanProcessor(RedactingSpanExporter(exporter)))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider, async_request_hook=_redact_request_url)
    AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=provider)
    _provider = provider
    return provider


def temporal_interceptors() -> list[Interceptor]:
    """What a Temporal client of this process carries: the tracing interceptor when tracing is on.

    On the client it also applies to every worker built from that client, so the workflow and
    activity spans continue the trace of whoever started the workflow.
    """
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("swath.temporal"))]


def tracer_provider() -> TracerProvider | None:
    """The provider `configure_tracing` installed in this process, if tracing is on."""
    return _provider


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits; `None` outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def annotate(**attributes: str | int | None) -> None:
    """Set `swath.<name>` attributes on the current span (`None` values are left out)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({f"swath.{name}": value for name, value in attributes.items() if value is not None})


async def _redact_request_url(span: trace.Span, request: Any) -> None:
    """httpx's client spans carry the request URL; only its redacted form is kept."""
    shown = redact_text(str(request.url))
    for name in ("url.full", "http.url"):
        span.set_attribute(name, shown)


class RedactingSpanExporter(SpanExporter):
    """Exports copies of the spans with every string value passed through `redact_text`."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Redact, then hand to the wrapped exporter."""
        return self._inner.export([_redacted(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)


def _redacted(span: ReadableSpan) -> ReadableSpan:
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_text(status.description))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_redacted_attributes(span.attributes),
        events=[Event(e.name, _redacted_attributes(e.attributes), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _redacted_attributes(attributes: Any) -> dict[str, Any]:
    return {
        name: redact_text(value) if isinstance(value, str)
        else tuple(redact_text(v) if isinstance(v, str) else v for v in value) if isinstance(value, (tuple, list))
        else value
        for name, value in (attributes or {}).items()
    }
