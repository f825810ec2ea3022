"""`PlanRun`: an estimate of a run before it is submitted (`POST /v1/runs?dry_run=true`).

The API never opens scenes (GDAL lives in the ingest pool), so an estimate is one activity on the
ingest queue that opens every scene input as a run's ingest would and returns each one's grid,
blocks, windows and bytes to read; the workflow exists so that the step has a queue, a retry policy
and a history like every other. Its history is two activities' worth of events at most.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # The contracts the plan's fields name are decoded by their type hints, which the sandbox
    # resolves in its own `sys.modules`: they must be imported here, not only by `plan_contracts`.
    from swath.domain.contracts import InputRef  # noqa: F401
    from swath.domain.plan_contracts import PlanRequest, RunPlan
    from swath.temporal.catalog import PLAN_INPUTS, PLAN_RUN, execute


@workflow.defn(name=PLAN_RUN.name)
class PlanRun:
    """Plan a run's scene inputs on the ingest pool; workflow id `plan-<hex>`."""

    @workflow.run
    async def run(self, req: PlanRequest) -> RunPlan:
        return await execute(PLAN_INPUTS, req, summary=f"{len(req.inputs)} inputs of {req.model}")
