"""Task queue names: one per worker pool, declared once."""

from enum import StrEnum


class TaskQueue(StrEnum):
    """Every cross-pool call names its queue from here."""

    ORCHESTRATION = "orchestration"
    #: Light, idempotent PostgreSQL writes the workflows need (finishing a run), never behind ingest.
    BOOKKEEPING = "bookkeeping"
    INGEST = "ingest"
    INFERENCE = "inference"
    NOTIFY = "notify"
