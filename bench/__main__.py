"""`python -m bench [orchestration|inference]`: run benchmarks, print ratios against baselines."""

import asyncio
import platform
import sys

import torch

from bench import inference, orchestration

SUITES = {"orchestration": orchestration.main, "inference": inference.main}


async def _main(names: list[str]) -> None:
    print(f"# {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"cuda {'yes: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no'}")
    for name in names:
        print(f"## {name} (baseline: {'raw Temporal' if name == 'orchestration' else 'plain PyTorch'})")
        for line in await SUITES[name]():
            print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:] or list(SUITES)))
