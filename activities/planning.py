"""Planning a run on the ingest pool: open its scene inputs as ingest would, stage nothing.

An estimate (`POST /v1/runs?dry_run=true`, workflow `PlanRun`) must see exactly what a run would:
the same checks under the same `SceneLimits`, the same item errors, the same grid, blocks and
windows. So each scene input is opened by ingest's own code (`IngestActivities.open_scene_input`)
under the plan's id instead of a run's, and then forgotten: a remote band is read only as far as
its structure (and the last tile, which opening decodes), a local store's blob is pinned where it
lies (a hard link) and unpinned at the end, and an object store's blob is read by range where it
lies, as far as its structure (the run reads its pinned copy the same way). The bytes a run would
read are counted from the files' layouts — for a file read by range, the tiles or strips each block
touches, merged as the run merges them — without fetching them.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.band_scenes import band_pixels, block_footprint
from activities.heartbeat import heartbeating
from activities.ingest import IngestActivities
from activities.scene_files import block_pixels
from swath.blobstore import SCHEME
from swath.domain.contracts import IngestRequest, InputRef, ItemError, StagedScene
from swath.domain.errors import BlobNotFoundError, ErrorType, ItemProblem, ModelNotFoundError
from swath.domain.plan_contracts import BandRead, InputPlan, PlanRequest, RunPlan
from swath.models.registry import ModelManifest
from swath.observe.tracing import annotate
from swath.temporal.catalog import PLAN_INPUTS

#: Scene inputs of one estimate opened at the same time, at most (as ingest fetches a run's).
PLAN_CONCURRENCY = 8


class PlanActivities:
    """Opens a run's scene inputs for an estimate, over ingest's own clients (`ingest`)."""

    def __init__(self, *, ingest: IngestActivities) -> None:
        self.ingest = ingest
        self.files = ingest.scene_files

    @PLAN_INPUTS.implementation
    async def plan_inputs(self, req: PlanRequest) -> RunPlan:
        """Each scene input's grid, blocks, windows and bytes to read, or its item error."""
        annotate(tenant=req.tenant or None, model=req.model, plan=req.plan_id)
        try:
            manifest = await self.ingest.registry.lookup(req.model)
        except ModelNotFoundError as err:
            raise ApplicationError(str(err), type=ErrorType.MODEL_NOT_FOUND, non_retryable=True) from None
        as_ingest = IngestRequest(
            run_id=req.plan_id, model=req.model, inputs=req.inputs, scene_block_size=req.scene_block_size,
            tenant=req.tenant,
        )
        gate = asyncio.Semaphore(PLAN_CONCURRENCY)
        done = 0

        async def plan(position: int, item: InputRef) -> InputPlan | ItemError:
            nonlocal done
            async with gate:
                try:
                    return await self._plan_one(as_ingest, position, item, manifest)
                except ItemProblem as problem:
                    return ItemError(id=item.id, code=problem.code, message=problem.message)
                finally:
                    self.files.forget(run_id=req.plan_id, position=position)
                    done += 1
                    activity.heartbeat(done)

        async with heartbeating():
            outcomes = await asyncio.gather(*(plan(n, item) for n, item in enumerate(req.inputs)))
        return RunPlan(
            inputs=[o for o in outcomes if isinstance(o, InputPlan)],
            errors=[o for o in outcomes if isinstance(o, ItemError)],
        )

    async def _plan_one(
        self, req: IngestRequest, position: int, item: InputRef, manifest: ModelManifest
    ) -> InputPlan:
        scene = await self.ingest.open_scene_input(req, position, item, manifest, planning=True)
        reads = await (self._band_reads(req, scene) if scene.bands else self._file_reads(req, scene))
        a, b, _, d, e, _ = scene.transform
        return InputPlan(
            id=scene.id, width=scene.width, height=scene.height, crs=scene.crs, transform=list(scene.transform),
            resolution=[abs(a) if not b else (a * a + d * d) ** 0.5, abs(e) if not d else (b * b + e * e) ** 0.5],
            block_size=scene.block_size, blocks=scene.blocks, windows=scene.windows,
            bytes_to_read=sum(r.bytes_to_read for r in reads), bytes_total=sum(r.size for r in reads),
            bands=reads if scene.bands else [],
        )

    async def _file_reads(self, req: IngestRequest, scene: StagedScene) -> list[BandRead]:
        """A scene in one file: a local store's blob read whole where it lies, an object store's by
        range (its structure and the tiles every block touches), a remote file copied into the store."""
        if scene.access == "range":
            remote = self.files.ranged(scene.ref, run_id=req.run_id, position=scene.position, band="", pinned=False)
            rectangles = [block_pixels(scene, block) for block in range(scene.blocks)]
            planned = await asyncio.to_thread(remote.planned_bytes, rectangles)
            return [BandRead(name="", access="whole" if remote.whole else "range", bytes_to_read=planned, size=remote.size)]
        if scene.ref.startswith(SCHEME):
            size = await self._blob_size(scene.ref)
            return [BandRead(name="", access="pin", bytes_to_read=size, size=size)]
        remote = self.files.ranged(scene.ref, run_id=req.run_id, position=scene.position, band="scene")
        return [BandRead(name="", access="whole", bytes_to_read=remote.size, size=remote.size)]

    async def _band_reads(self, req: IngestRequest, scene: StagedScene) -> list[BandRead]:
        """Per band: a blob pinned whole; a file read by range (remote, or an object store's blob), its
        structure and the tiles every block touches."""
        footprints = [block_footprint(scene, block) for block in range(scene.blocks)]
        reads = []
        for band in scene.bands:
            if band.access == "range":
                remote = self.files.ranged(
                    band.uri, run_id=req.run_id, position=scene.position, band=band.name, pinned=False
                )
                rectangles = [band_pixels(scene, band, footprint) for footprint in footprints]
                planned = await asyncio.to_thread(remote.planned_bytes, rectangles)
                reads.append(BandRead(
                    name=band.name, access="whole" if remote.whole else "range", bytes_to_read=planned,
                    size=remote.size,
                ))
            else:
                size = await self._blob_size(band.uri)
                reads.append(BandRead(name=band.name, access="pin", bytes_to_read=size, size=size))
        return reads

    async def _blob_size(self, ref: str) -> int:
        try:
            return await self.files.blobs.size(ref)
        except BlobNotFoundError:
            return 0
