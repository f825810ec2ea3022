"""Run status names (the public contract), lifecycle event types, and where a model's circuit breaker stands."""

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is in its life."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        """Whether the run has ended."""
        return self in TERMINAL


TERMINAL = frozenset({RunStatus.COMPLETE, RunStatus.FAILED, RunStatus.CANCELED})



class RunEventType(StrEnum):
    """What can happen to a run that a webhook hears of; the value is the body's `type`."""

    COMPLETED = "run.completed"
    FAILED = "run.failed"
    CANCELED = "run.canceled"
    #: Raised for every dead-lettered run, next to its `run.failed`.
    DEAD_LETTERED = "run.dead_lettered"


#: The event raised when a run reaches each terminal status.
EVENT_FOR_STATUS = {
    RunStatus.COMPLETE: RunEventType.COMPLETED,
    RunStatus.FAILED: RunEventType.FAILED,
    RunStatus.CANCELED: RunEventType.CANCELED,
}


class BreakerState(StrEnum):
    """Where a model's breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
