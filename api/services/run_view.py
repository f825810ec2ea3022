"""Where `workflow_id` used to be importable from; the run view itself is `swath.run_view`."""

from swath.workflow_ids import workflow_id

__all__ = ["workflow_id"]
