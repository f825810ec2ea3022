"""Where a run's staged tiles are cut into chunks: the one rule ingest and the workflow share.

Ingest writes one blob per chunk and the workflow sends one inference activity per chunk; both
cut the same list of staged items (in submission order, item errors left out) with
`chunk_bounds`, so a chunk's tiles always lie in one blob and each blob is read by one activity.
Pure and deterministic, so workflows may call it.
"""

from __future__ import annotations

#: Staged tiles per chunk when a request does not say (the service sets `SWATH_INFERENCE_CHUNK_SIZE`).
DEFAULT_CHUNK_SIZE = 16
#: The largest chunk, and so the most tiles one staged batch blob may hold.
MAX_CHUNK_SIZE = 1024


def chunk_bounds(count: int, chunk_size: int) -> list[range]:
    """Consecutive index ranges of at most `chunk_size` covering `0..count-1`, in order."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    return [range(start, min(start + chunk_size, count)) for start in range(0, count, chunk_size)]
