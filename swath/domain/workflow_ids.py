"""Workflow ids: a run is `run-<run id>`, a webhook message's delivery `webhook-<message id>`.

Deterministic ids are what make starting a workflow idempotent: a retried start finds the one
already running instead of starting a second.
"""


def run_workflow_id(run_id: object) -> str:
    """The Temporal workflow id of a run."""
    return f"run-{run_id}"


def delivery_workflow_id(message_id: str) -> str:
    """The Temporal workflow id of a message's delivery."""
    return f"webhook-{message_id}"


def scene_workflow_id(run_id: object, position: int) -> str:
    """The Temporal workflow id of the map of a run's scene input at `position`."""
    return f"run-{run_id}-scene-{position}"


def run_id_of(workflow_id: str) -> str | None:
    """The run a workflow id belongs to (`run-<id>` or `run-<id>-scene-<n>`), or `None`."""
    if not workflow_id.startswith("run-"):
        return None
    run_id = workflow_id.removeprefix("run-")
    return run_id.split("-scene-", 1)[0]
