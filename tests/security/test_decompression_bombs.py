"""Decompression bombs: a tile whose strips inflate far past the geometry it declares is
`too_large`, the ingest process never holds more than about the declared size, and the other
items and runs go on.

A 40 KB LZMA (or 260 KB zlib) strip inflating to 256 MiB, in a TIFF declaring 32x32x6: before,
it decoded "successfully" (and at the 4 MiB item limit one tile could inflate to tens of GiB).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.ingest import IngestActivities
from swath.blobstore import LocalBlobStore
from swath.domain.contracts import IngestRequest, InputRef
from swath.lab.samples import load_labels, sample_dir
from swath.models.registry import ModelRegistry
from swath.outbound.urlguard import UrlGuard
from swath.settings import BUNDLED_REGISTRY
from tests.utils.runs_helpers import inline, sample_inputs, wait_until_done
from tests.utils.tiff_forge import DEFLATE, LZMA, forge_tiff, lzma_bomb, zlib_bomb

INFLATED = 256 * 1024 * 1024
MAX_ITEM_BYTES = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Single-strip TIFFs declaring 32x32x6 uint16 whose strip inflates to 256 MiB."""
    made = {"lzma": forge_tiff([lzma_bomb(INFLATED)], compression=LZMA)}
    made["zlib"] = forge_tiff([zlib_bomb(INFLATED)], compression=DEFLATE)
    assert all(len(b) < MAX_ITEM_BYTES for b in made.values())
    return made


async def test_the_ingest_activity_refuses_bombs_while_holding_about_the_declared_size(
    tmp_path: Path, bombs: dict[str, bytes]
) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    inputs = [
        InputRef(id=f"{name}-bomb", uri=await blobs.put(f"in/{name}.tif", data), media_type="image/tiff")
        for name, data in bombs.items()
    ]
    tile = (sample_dir() / "tiles" / "tile-01.npy").read_bytes()
    inputs.append(InputRef(id="tile-01", uri=await blobs.put("in/tile-01.npy", tile)))
    activities = IngestActivities(
        blobs=blobs, registry=ModelRegistry(BUNDLED_REGISTRY), guard=UrlGuard(), max_item_bytes=MAX_ITEM_BYTES
    )
    request = IngestRequest(run_id=str(uuid.uuid4()), model="crop-classifier", inputs=inputs)
    tracemalloc.start()
    try:
        result = await ActivityEnvironment().run(activities.ingest_inputs, request)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await activities.aclose()
    assert {e.id: e.code for e in result.errors} == {"lzma-bomb": "too_large", "zlib-bomb": "too_large"}
    assert [s.id for s in result.staged] == ["tile-01"]
    # Each bomb is read whole from the blob store (< 300 KB); the pixels it declares are 12 KiB
    # per band. Anything near the 256 MiB it inflates to would be far above this.
    assert peak < 16 * 1024 * 1024, peak


ADDRESS_SPACE_PROBE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from swath.domain.errors import ItemProblem
    from swath.imagery.tiles import decode_tile
    from swath.models.registry import ModelRegistry
    from swath.settings import BUNDLED_REGISTRY, Settings
    from workers.pools import load_pool

    def vm_size() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no VmSize")

    pool = load_pool("ingest")  # imported first: the headroom is over what the pool's modules map
    limit = vm_size() + 192 * 1024 * 1024
    pool.prepare_process(Settings(ingest_memory_limit_bytes=limit))
    assert resource.getrlimit(resource.RLIMIT_AS)[0] == limit, resource.getrlimit(resource.RLIMIT_AS)
    spec = ModelRegistry(BUNDLED_REGISTRY).resolve("crop-classifier").input
    for path in sys.argv[1:]:
        try:
            decode_tile(Path(path).read_bytes(), "image/tiff", spec, max_bytes=4 * 1024 * 1024)
            print("decoded")
        except ItemProblem as err:
            print(err.code.value)
    try:
        hog = bytearray(512 * 1024 * 1024)
        print("allocated")
    except MemoryError:
        print("memory-error")
    """
)


def test_the_ingest_pool_process_caps_its_address_space_and_bombs_fit_under_it(
    tmp_path: Path, bombs: dict[str, bytes]
) -> None:
    paths = []
    for name, data in bombs.items():
        path = tmp_path / f"{name}.tif"
        path.write_bytes(data)
        paths.append(str(path))
    out = subprocess.run(
        [sys.executable, "-c", ADDRESS_SPACE_PROBE, *paths], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert out.returncode == 0, out.stderr
    # Both bombs refused within 192 MiB of headroom (each inflates to 256 MiB), and an
    # allocation past the cap is a MemoryError in the process, not the kernel's OOM killer.
    assert out.stdout.split() == ["too_large", "too_large", "memory-error"]


async def test_a_bomb_in_one_run_leaves_its_other_items_and_other_runs_alone(
    client: httpx.AsyncClient, bombs: dict[str, bytes]
) -> None:
    labels = load_labels()
    bombed = [inline("lzma-bomb", bombs["lzma"], "image/tiff"), inline("zlib-bomb", bombs["zlib"], "image/tiff")]
    bombed += sample_inputs(2)
    created = await asyncio.gather(
        client.post("/v1/runs", json={"model": "crop-classifier", "inputs": bombed}),
        client.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(3)}),
    )
    assert all(r.status_code == 202 for r in created), [r.text for r in created]
    runs = await asyncio.gather(*(wait_until_done(client, r.json()["id"]) for r in created))
    assert [run["status"] for run in runs] == ["complete", "complete"]
    first = {i["id"]: i for i in runs[0]["result"]["items"]}
    assert first["lzma-bomb"]["error"]["code"] == "too_large"
    assert first["zlib-bomb"]["error"]["code"] == "too_large"
    for run in runs:
        for item in run["result"]["items"]:
            if not item["id"].endswith("bomb"):
                assert item["label"] == labels[item["id"]], item
