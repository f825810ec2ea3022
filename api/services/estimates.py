"""Estimating a run before it is submitted (`POST /v1/runs?dry_run=true`).

The body is checked exactly as a submission is (`runs.validate_submission`). Scene inputs are then
opened by the ingest pool (`PlanRun`, `activities.planning`), because the API never opens scenes:
inline STAC items (and URLs that carry a secret) are written under a folder of the estimate's own
for the pool to read, and deleted once it answered, and so is the estimate's workflow execution.
No run row is inserted and no run's workflow started. Tiles are not opened: one window each.

The expected seconds divide the windows by the pace measured over recently completed runs in
PostgreSQL (`swath.db.rates`): this model's runs, else any model's, else `DEFAULT_WINDOWS_PER_S`.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from uuid import uuid4

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from api.clients import Clients
from api.estimate_schemas import BandEstimate, InputEstimate, ItemErrorOut, RateOut, RunEstimate
from api.problems import Problem, ProblemType
from api.schemas import RunCreate
from api.services import runs
from swath.blobstore import SCHEME
from swath.db import rates
from swath.domain.errors import BlobNotFoundError, InvalidBlobRefError
from swath.domain.plan_contracts import PlanRequest, RunPlan
from swath.domain.principal import Principal
from swath.temporal.catalog import PLAN_RUN, PLAN_TIMEOUT

log = logging.getLogger(__name__)

#: The pace assumed when no run has completed yet (windows of 256 px per second on one CPU pool;
#: `docs/estimates.md`). An estimate says when it is this default.
DEFAULT_WINDOWS_PER_S = 20.0
#: Completed runs the pace is measured over, at most, and how recent they must be.
RATE_RUNS = 20
RATE_DAYS = 7
#: The estimate's workflow may take its one activity's time and a little more.
PLAN_WORKFLOW_TIMEOUT = PLAN_TIMEOUT + timedelta(seconds=10)


async def estimate_run(clients: Clients, principal: Principal, body: RunCreate) -> RunEstimate:
    """Check `body` as a submission, plan its scenes on the ingest pool, and time it; starts no run."""
    manifest, checked = await runs.validate_submission(clients, principal, body)
    plan_id = f"plan-{uuid4().hex}"
    folder = f"{runs.tenant_prefix(principal.tenant)}inputs/{plan_id}"
    written: list[str] = []
    scenes = [item for item in checked if item.kind == "scene"]
    try:
        refs = [await runs.input_ref(clients, folder, item, written) for item in scenes]
        plan = await _plan(clients, PlanRequest(
            plan_id=plan_id, model=manifest.info.ref, inputs=refs,
            scene_block_size=clients.settings.scene_block_size, tenant=principal.tenant,
        )) if refs else RunPlan()
    finally:
        await runs.delete_blobs(clients, written)
    planned = {p.id: p for p in plan.inputs}
    inputs: list[InputEstimate] = []
    for item in checked:
        if item.kind != "scene":
            inputs.append(InputEstimate(
                id=item.id, kind="tile", blocks=0, windows=1, bytes_to_read=await _tile_bytes(clients, item),
            ))
        elif (p := planned.get(item.id)) is not None:
            inputs.append(InputEstimate(
                id=p.id, kind="scene", width=p.width, height=p.height, crs=p.crs, transform=p.transform,
                resolution=p.resolution, block_size=p.block_size, blocks=p.blocks, windows=p.windows,
                bytes_to_read=p.bytes_to_read, bytes_total=p.bytes_total,
                bands=[BandEstimate(name=b.name, access=b.access, bytes_to_read=b.bytes_to_read, size=b.size)
                       for b in p.bands],
            ))
    windows = sum(i.windows for i in inputs)
    rate = await _rate(clients, manifest.info.ref)
    return RunEstimate(
        model=manifest.info.ref, inputs=inputs,
        errors=[ItemErrorOut(id=e.id, code=e.code, message=e.message) for e in plan.errors],
        blocks=sum(i.blocks for i in inputs), windows=windows, bytes_to_read=sum(i.bytes_to_read for i in inputs),
        expected_seconds=round(windows / rate.windows_per_second, 1), rate=rate,
    )


async def _plan(clients: Clients, req: PlanRequest) -> RunPlan:
    """Run `PlanRun` and wait for it; its execution is deleted once answered."""
    try:
        handle = await PLAN_RUN.start(
            clients.temporal, req, id=req.plan_id, execution_timeout=PLAN_WORKFLOW_TIMEOUT,
            static_summary=f"estimate · {len(req.inputs)} scenes · {req.model} · tenant {req.tenant}",
        )
        try:
            return await handle.result()
        finally:
            with contextlib.suppress(RPCError):  # an estimate's history is not kept; Temporal's retention would drop it
                await clients.temporal.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
                    namespace=clients.temporal.namespace, workflow_execution=WorkflowExecution(workflow_id=req.plan_id),
                ))
    except RPCError as err:
        raise Problem(ProblemType.UNAVAILABLE, "cannot reach Temporal; retry later", headers={"Retry-After": "5"}) from err
    except WorkflowFailureError as err:
        log.warning("estimate %s failed: %r", req.plan_id, err.cause)
        raise Problem(
            ProblemType.UNAVAILABLE, "the ingest pool could not plan the inputs; retry later", headers={"Retry-After": "5"}
        ) from None


async def _tile_bytes(clients: Clients, item: runs.CheckedInput) -> int:
    """A tile's bytes: inline, or its blob's size; a URL's is not known before it is fetched."""
    if item.data is not None:
        return len(item.data)
    if item.uri and item.uri.startswith(SCHEME):
        with contextlib.suppress(BlobNotFoundError, InvalidBlobRefError):
            return await clients.blobs.size(item.uri)
    return 0


async def _rate(clients: Clients, model: str) -> RateOut:
    """This model's recent pace, else the pool's over any model, else the default."""
    async with clients.db.acquire() as conn:
        for source, of in (("model", model), ("pool", None)):
            measured = await rates.recent_window_rate(conn, model=of, limit=RATE_RUNS, within_days=RATE_DAYS)
            if measured.per_second > 0:
                return RateOut(windows_per_second=round(measured.per_second, 3), source=source, runs=measured.runs)
    return RateOut(windows_per_second=DEFAULT_WINDOWS_PER_S, source="default", runs=0)
