"""A redrive submits the dead-lettered request as it was: every input keeps its `kind`."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from swath.db import dead_letters
from tests.utils.runs_helpers import insert_run


async def test_a_redrive_keeps_each_inputs_kind(client: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    # A classifier defaults to tiles, so a scene input that lost its kind would come back a tile.
    request = {
        "model": "crop-classifier",
        "inputs": [
            {"id": "field", "uri": f"blob://tenants/acme/uploads/{uuid.uuid4().hex}.tif", "media_type": None,
             "kind": "scene"},
            {"id": "tile", "uri": f"blob://tenants/acme/uploads/{uuid.uuid4().hex}.npy",
             "media_type": "application/x-npy", "kind": "tile"},
        ],
        "params": {},
        "deadline_seconds": None,
    }
    run_id = await insert_run(db, "acme")
    async with db.acquire() as conn:
        await conn.execute("UPDATE runs SET input = $2 WHERE id = $1", run_id, request)
        await dead_letters.insert_dead_letter(
            conn, run_id=run_id, tenant="acme", request=request, failed_step="inference",
            error_code="gpu_out_of_memory", error_message="simulated for the redrive test", attempts=4,
        )
        letter_id = (await dead_letters.get_dead_letter_of_run(conn, run_id=run_id))["id"]

    response = await client.post(f"/v1/dead-letters/{letter_id}/redrive")

    assert response.status_code == 202, response.text
    redriven = response.json()
    assert [(i["id"], i["kind"]) for i in redriven["input"]["inputs"]] == [("field", "scene"), ("tile", "tile")]


async def test_a_bulk_redrive_redrives_every_match_once(api_url: str, db: asyncpg.Pool) -> None:
    from swath.client import AsyncSwath
    from tests.conftest import make_key

    tenant = f"bulk-{uuid.uuid4().hex[:8]}"
    key = await make_key(db, tenant, ["runs:read", "runs:write"])

    async def dead_letter(code: str) -> uuid.UUID:
        request = {
            "model": "crop-classifier@1.0.0",
            "inputs": [{"id": "t", "uri": f"blob://tenants/{tenant}/uploads/{uuid.uuid4().hex}.npy",
                        "media_type": "application/x-npy", "kind": "tile"}],
            "params": {}, "deadline_seconds": None,
        }
        run_id = await insert_run(db, tenant)
        async with db.acquire() as conn:
            await conn.execute("UPDATE runs SET input = $2 WHERE id = $1", run_id, request)
            await dead_letters.insert_dead_letter(
                conn, run_id=run_id, tenant=tenant, request=request, failed_step="inference", error_code=code,
                error_message="simulated for the bulk redrive test", attempts=4,
            )
            return (await dead_letters.get_dead_letter_of_run(conn, run_id=run_id))["id"]

    matching = {await dead_letter("gpu_out_of_memory") for _ in range(20)}
    other = await dead_letter("inference_failed")

    async with AsyncSwath(api_url, key) as swath:
        first = await swath.dead_letters.redrive_all(code="gpu_out_of_memory", model="crop-classifier")
        again = await swath.dead_letters.redrive_all(code="gpu_out_of_memory", model="crop-classifier")
        assert first.matched == 20 and first.redriven == 20 and len(set(first.run_ids)) == 20
        assert again.matched == 20 and again.redriven == 0 and again.run_ids == first.run_ids
        letters = (await swath.dead_letters.list(limit=100)).items
    assert {dl.id for dl in letters if dl.redriven_run_id} == {str(i) for i in matching}
    assert str(other) in {dl.id for dl in letters if not dl.redriven_run_id}
    runs = await db.fetchval("SELECT count(*) FROM runs WHERE tenant = $1 AND redrive_of IS NOT NULL", tenant)
    assert runs == 20
