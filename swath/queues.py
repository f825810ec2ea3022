"""Task queue names: one per worker pool, declared once."""

from enum import StrEnum


class TaskQueue(StrEnum):
    """Every cross-pool call names its queue from here."""

    ORCHESTRATION = "orchestration"
    INGEST = "ingest"
    INFERENCE = "inference"
    NOTIFY = "notify"
