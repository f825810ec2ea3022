"""`python -m bench [orchestration|end_to_end|inference|formats|pool|scene|stac_scene|vectors|gpu]`: run benchmarks, print ratios against baselines.

`gpu` needs CUDA and otherwise prints one line saying it was skipped.
"""

import asyncio
import os
import platform
import sys

import torch

from bench import end_to_end, formats, gpu, inference, orchestration, pool, scene, stac_scene, vectors

SUITES = {
    "orchestration": orchestration.main, "end_to_end": end_to_end.main, "inference": inference.main,
    "formats": formats.main, "pool": pool.main, "scene": scene.main, "stac_scene": stac_scene.main,
    "vectors": vectors.main, "gpu": gpu.main,
}
BASELINES = {
    "orchestration": "raw Temporal", "end_to_end": "raw Temporal, worker process", "inference": "plain PyTorch",
    "formats": "plain PyTorch / plain onnxruntime on the same file",
    "pool": "plain PyTorch over the same tiles in memory",
    "scene": "the plain script: rasterio + PyTorch, one process",
    "stac_scene": "the plain script: rasterio over /vsicurl/, WarpedVRT to 10 m, PyTorch, one process",
    "vectors": "the plain script: rasterio.features.shapes + shapely per polygon + geopandas, whole map",
    "gpu": "plain PyTorch at its best batch size, same GPU",
}


async def _main(names: list[str]) -> None:
    print(f"# {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"cuda {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}")
    for name in names:
        print(f"## {name} (baseline: {BASELINES[name]})")
        for line in await SUITES[name]():
            print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(_main([a for a in sys.argv[1:] if not a.startswith("--")] or list(SUITES)))
    # The Temporal SDK's Rust threads can outlive the interpreter and abort its finalization
    # (temporalio/sdk-python#300), turning a finished run into exit 134: everything is printed
    # and every stack stopped by now, so leave without the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
