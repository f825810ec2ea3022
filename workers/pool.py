"""What a worker pool is: a task queue, its workflows, and the activities it builds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from swath.temporal.queues import TaskQueue
from swath.settings import Settings

#: Builds a pool's activity objects with ready clients; closes them through the exit stack. The
#: Temporal client is the pool's own (its worker polls through it, its namespace already checked):
#: activities that start or signal workflows use it rather than connecting, and checking, again.
ActivityBuilder = Callable[[Settings, AsyncExitStack, Client], Awaitable[list[object]]]


#: Runs once in a pool's own process before anything else (never when pools run inside tests).
ProcessSetup = Callable[[Settings], None]


async def _no_activities(settings: Settings, stack: AsyncExitStack, temporal: Client) -> list[object]:
    return []


def _no_setup(settings: Settings) -> None:
    return None


@dataclass(frozen=True)
class PoolSpec:
    """One worker pool, declared once."""

    queue: TaskQueue
    workflows: tuple[type, ...] = ()
    #: The classes whose `@activity.defn` methods the pool registers (read by the guard test).
    activity_classes: tuple[type, ...] = ()
    build_activities: ActivityBuilder = _no_activities
    prepare_process: ProcessSetup = _no_setup
    max_concurrent_activities: int = 16
    worker_options: dict[str, Any] = field(default_factory=dict)


def activity_methods(obj: object) -> list[Callable[..., Any]]:
    """The bound `@activity.defn` methods of an activities object."""
    return [
        getattr(obj, name)
        for name in dir(type(obj))
        if hasattr(getattr(type(obj), name), "__temporal_activity_definition")
    ]
