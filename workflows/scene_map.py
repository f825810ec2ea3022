"""`SceneMap`: one scene of a run, block by block, into one map.

Each block is two activities: `ingest_scene_block` reads it (with its halo) on the ingest pool
and stages its pixels as one blob, then `map_scene_block` runs the model over its windows on the
inference pool, stores the block's classes as one blob and records its progress. At most
`concurrency` blocks are in flight, so ingest of the next block overlaps inference of this one
and a scene's memory stays a few blocks whatever its size. `assemble_scene_map` then writes the
COG and records it as the run's output.

The history holds a constant-size payload per block (references and per-class counts), so it
grows with the number of blocks, never with pixels or windows; past `blocks_per_history` blocks
the workflow continues as new with its totals. A killed pool costs only the blocks in flight:
finished blocks are in the history and are never mapped again.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from swath.domain.contracts import (
        AssembleMapRequest,
        BlockResult,
        MapBlockRequest,
        ModelInfo,
        SceneBlockRequest,
        SceneMapInput,
        SceneMapResult,
    )
    from swath.temporal.catalog import (
        ASSEMBLE_SCENE_MAP,
        INGEST_SCENE_BLOCK,
        MAP_SCENE_BLOCK,
        SCENE_MAP,
        execute,
    )

@workflow.defn(name=SCENE_MAP.name)
class SceneMap:
    """The map of one scene; workflow id `run-<run_id>-scene-<position>`."""

    def __init__(self) -> None:
        self._blocks_done = 0
        self._blocks_total = 0

    @workflow.query
    def progress(self) -> dict[str, int]:
        """Blocks of the scene mapped so far."""
        return {"blocks_done": self._blocks_done, "blocks_total": self._blocks_total}

    @workflow.run
    async def run(self, req: SceneMapInput) -> SceneMapResult:
        scene = req.scene
        self._blocks_total, self._blocks_done = scene.blocks, req.first_block
        last = min(scene.blocks, req.first_block + max(1, req.blocks_per_history))
        gate = asyncio.Semaphore(max(1, req.concurrency))

        async def one(block: int) -> BlockResult:
            async with gate:
                result = await self._block(req, block)
                self._blocks_done += 1
                return result

        results = await asyncio.gather(*(one(b) for b in range(req.first_block, last)))
        pixels, area = list(req.pixels), list(req.area_m2)
        model: ModelInfo | None = None
        for result in results:
            pixels, area = _add(pixels, result.pixels), _add(area, result.area_m2)
            model = result.model
        if last < scene.blocks:
            workflow.continue_as_new(
                SceneMapInput(
                    req.run_id, req.tenant, req.model, scene, req.concurrency, last, pixels, area, req.confidence,
                    req.blocks_per_history,
                )
            )
        return await execute(
            ASSEMBLE_SCENE_MAP,
            AssembleMapRequest(req.run_id, req.tenant, req.model, scene, pixels, area, model, req.confidence),
            summary=f"assemble the map of {scene.id}",
        )

    async def _block(self, req: SceneMapInput, block: int) -> BlockResult:
        label = f"block {block + 1}/{req.scene.blocks} of {req.scene.id}"
        staged = await execute(
            INGEST_SCENE_BLOCK, SceneBlockRequest(req.run_id, req.scene, block, tenant=req.tenant), summary=f"read {label}"
        )
        return await execute(
            MAP_SCENE_BLOCK, MapBlockRequest(req.run_id, req.model, req.scene, block, staged.ref, tenant=req.tenant),
            summary=f"map {label}",
        )


def _add(total: list, part: list) -> list:
    """Element-wise sum of two per-class lists (either may be empty)."""
    if not total:
        return list(part)
    if not part:
        return total
    return [a + b for a, b in zip(total, part)]
