"""The vocabularies: run statuses and phases (the public contract), lifecycle event types, input
kinds, model tasks, webhook delivery statuses, and where a model's circuit breaker stands.

Each is a `StrEnum`, so its members are the very strings payloads, rows and JSON bodies carry.
"""

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


class RunPhase(StrEnum):
    """What a run's workflow is doing, as its `progress` query and its dead letter name it: a status
    while it is queued or has ended, else the step in flight."""

    QUEUED = RunStatus.QUEUED.value
    PROCESSING = RunStatus.PROCESSING.value
    INGEST = "ingest"
    INFERENCE = "inference"
    COMPLETE = RunStatus.COMPLETE.value
    FAILED = RunStatus.FAILED.value
    CANCELED = RunStatus.CANCELED.value


class InputKind(StrEnum):
    """What one input of a run is: a tile classified whole, or a scene mapped block by block."""

    TILE = "tile"
    SCENE = "scene"


class ModelTask(StrEnum):
    """What a model does: a label per tile, or a class per pixel."""

    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"


class DeliveryStatus(StrEnum):
    """Where a webhook message stands: waiting for its next attempt, delivered, or given up on."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
