"""Temporal workflow ids derived from Swath ids, so every caller names a run's workflow the same way."""


def workflow_id(run_id: object) -> str:
    """The Temporal workflow id of a run."""
    return f"run-{run_id}"
