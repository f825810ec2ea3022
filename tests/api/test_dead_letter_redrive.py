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
