"""Run status names (the public contract) and lifecycle event types."""

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

#: The event raised when a run reaches each terminal status.
EVENT_FOR_STATUS = {
    RunStatus.COMPLETE: "run.completed",
    RunStatus.FAILED: "run.failed",
    RunStatus.CANCELED: "run.canceled",
}
