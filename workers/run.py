"""Running one pool: connect, build its activities, poll its task queue until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from datetime import timedelta
from contextlib import AsyncExitStack

from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from swath.auth.checks import ensure_safe_to_start
from swath.embedded.pool_processes import process_name
from swath.observe.tracing import configure_tracing
from swath.settings import Settings
from swath.temporal.client import connect_temporal
from workers.health import PoolHealth
from workers.pool import activity_methods
from workers.pools import load_pool
from workers.sdk_metrics import SdkMetrics

log = logging.getLogger(__name__)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """How a pool runs its workflows: unsandboxed unless `SWATH_WORKFLOW_SANDBOX` asks for the sandbox."""
    return SandboxedWorkflowRunner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def worker_identity(pool: str, index: int = 0) -> str:
    """The Temporal worker identity of a pool process: the SDK's `pid@host`, then the process's name,
    so two inference processes on one machine are told apart among a queue's pollers."""
    return f"{os.getpid()}@{socket.gethostname()}/{process_name(pool, index)}"


async def run_pool(name: str, settings: Settings, *, index: int = 0) -> None:
    """Serve one pool until SIGTERM or SIGINT, then drain in-flight tasks and exit.

    `index`: which process of its pool on this machine this is (`swath.embedded.pool_processes`).
    Refuses (`InsecureSettingsError`) to start on settings production does not allow.
    """
    ensure_safe_to_start(settings)
    configure_tracing(settings, role=name)
    pool = load_pool(name)
    pool.prepare_process(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        health = None
        runtime = None
        if settings.pool_http_port is not None:
            sdk = SdkMetrics()
            runtime = sdk.runtime
            health = PoolHealth(settings.pool_http_host, settings.pool_http_port, extra_metrics=sdk.text)
            health.start()
            stack.callback(health.stop)
        # The process's one client, and so its one check of the namespace and search attributes.
        client = await connect_temporal(settings, runtime=runtime)
        built = await pool.build_activities(settings, stack, client)
        activities = [fn for obj in built for fn in activity_methods(obj)]
        identity = worker_identity(name, index)
        worker = Worker(
            client,
            task_queue=pool.queue,
            workflows=list(pool.workflows),
            activities=activities,
            max_concurrent_activities=pool.max_concurrent_activities,
            workflow_runner=workflow_runner(settings),
            graceful_shutdown_timeout=timedelta(seconds=settings.worker_drain_s),
            identity=identity,
            **pool.worker_options,
        )
        log.info("pool %s polling %r with %d activities as %s", name, pool.queue.value, len(activities), identity)
        async with worker:
            if health:
                health.ready.set()
            await stop.wait()
            if health:
                health.ready.clear()  # not ready while draining: no new traffic is routed here
            log.info("pool %s draining (at most %g s)", name, settings.worker_drain_s)
        log.info("pool %s stopped", name)
