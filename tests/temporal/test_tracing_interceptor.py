"""Temporal's tracing interceptor as Swath installs it: a sandboxed workflow and its activity
continue the trace of the span that started the workflow, on the real dev server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from swath.observe import tracing
from swath.observe.tracing import annotate


@activity.defn(name="tracing_test_step")
async def step(run_id: str) -> str:
    annotate(run_id=run_id)
    return tracing.current_trace_id() or ""


@activity.defn(name="tracing_test_failing_step")
async def failing_step(run_id: str) -> str:
    raise ApplicationError("the tile is not a tile", type="undecodable", non_retryable=True)


@workflow.defn(name="TracingTestWorkflow")
class StepWorkflow:
    @workflow.run
    async def run(self, run_id: str) -> str:
        return await workflow.execute_activity(step, run_id, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn(name="TracingTestFailingWorkflow")
class FailingWorkflow:
    @workflow.run
    async def run(self, run_id: str) -> str:
        return await workflow.execute_activity(failing_step, run_id, start_to_close_timeout=timedelta(seconds=30))


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A provider of this test's own, installed where `swath.observe.tracing` keeps the process's."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(tracing, "_provider", provider)
    yield memory
    provider.shutdown()


async def test_the_workflow_and_its_activity_continue_the_starters_trace(
    temporal_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    (interceptor,) = tracing.temporal_interceptors()
    client = Client(**{**temporal_env.client.config(), "interceptors": [interceptor]})
    queue = f"tracing-{uuid.uuid4().hex}"
    run_id = str(uuid.uuid4())
    tracer = tracing.tracer_provider().get_tracer("tests")
    async with Worker(client, task_queue=queue, workflows=[StepWorkflow], activities=[step],
                      workflow_runner=SandboxedWorkflowRunner()):
        with tracer.start_as_current_span("request") as request:
            seen = await client.execute_workflow(StepWorkflow.run, run_id, id=f"run-{run_id}", task_queue=queue)

    trace_id = trace.format_trace_id(request.get_span_context().trace_id)
    assert seen == trace_id
    finished = spans.get_finished_spans()
    ours = [s for s in finished if s.context.trace_id == request.get_span_context().trace_id]
    names = {s.name for s in ours}
    assert {"StartWorkflow:TracingTestWorkflow", "RunWorkflow:TracingTestWorkflow",
            "StartActivity:tracing_test_step", "RunActivity:tracing_test_step"} <= names
    ids = {s.context.span_id for s in ours}
    assert all(s.parent is None or s.parent.span_id in ids for s in ours)
    assert [s.name for s in ours if s.parent is None] == ["request"]
    (run_activity,) = [s for s in ours if s.name == "RunActivity:tracing_test_step"]
    assert run_activity.attributes["swath.run_id"] == run_id


async def test_a_failed_activity_attempt_has_an_error_status(
    temporal_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    client = Client(**{**temporal_env.client.config(), "interceptors": tracing.temporal_interceptors()})
    queue = f"tracing-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[FailingWorkflow], activities=[failing_step],
                      workflow_runner=SandboxedWorkflowRunner()):
        with tracing.tracer_provider().get_tracer("tests").start_as_current_span("request"):
            with pytest.raises(WorkflowFailureError):
                await client.execute_workflow(FailingWorkflow.run, "r", id=f"run-{uuid.uuid4()}", task_queue=queue)

    (attempt,) = [s for s in spans.get_finished_spans() if s.name == "RunActivity:tracing_test_failing_step"]
    assert attempt.status.status_code is StatusCode.ERROR
    assert "the tile is not a tile" in attempt.status.description
