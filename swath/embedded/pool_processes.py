"""The processes that serve the pools on one machine: one per pool, and N for inference, one per GPU.

`swath up` runs `pool_processes(settings)`. Every pool has one process, named `pool-<queue>`; the
inference pool has `SWATH_INFERENCE_PROCESSES` of them (`pool-inference`, `pool-inference-1`, …),
by default one per id in `SWATH_INFERENCE_GPUS`, the k-th seeing only the k-th device through
`CUDA_VISIBLE_DEVICES`. Metrics ports: the base block gives each pool's first process
`base + n` (task queue order, unchanged by extra processes); the extra inference processes take the
ports after the block, so `pool_port_count` consecutive ports hold them all.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from swath.domain.errors import PoolProcessesError
from swath.settings import Settings
from swath.temporal.queues import TaskQueue

__all__ = ["PoolProcess", "inference_process_count", "pool_port_count", "pool_processes", "port_offset", "process_name"]

#: The one pool that runs more than one process on a machine: a process holds one GPU.
MULTI_PROCESS_POOL = TaskQueue.INFERENCE


@dataclass(frozen=True)
class PoolProcess:
    """One process of one pool: what the supervisor runs, and where its `/metrics` answer."""

    role: TaskQueue
    #: 0 for a pool's first process; the worker gets it as `--index`.
    index: int = 0
    #: Its own HTTP port (`/livez`, `/readyz`, `/metrics`); None without a base port.
    port: int | None = None
    #: What this process's environment adds to the stack's (its port, its GPU).
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The supervisor's name for it, its log file's, its worker identity's and its `instance` label."""
        return process_name(self.role, self.index)

    @property
    def argv(self) -> list[str]:
        """Its command line."""
        return [sys.executable, "-m", "workers", "--pool", self.role.value, "--index", str(self.index)]


def process_name(role: TaskQueue | str, index: int = 0) -> str:
    """`pool-<queue>` for a pool's first process, `pool-<queue>-<index>` for the others."""
    name = f"pool-{TaskQueue(role).value}"
    return name if index == 0 else f"{name}-{index}"


def inference_process_count(settings: Settings) -> int:
    """How many inference processes the settings ask for; `PoolProcessesError` when they disagree."""
    gpus = settings.inference_gpus
    if gpus is None:
        return settings.inference_processes or 1
    if "" in gpus:
        raise PoolProcessesError(f"SWATH_INFERENCE_GPUS={','.join(gpus)!r} has an empty device id")
    if settings.inference_processes not in (None, len(gpus)):
        raise PoolProcessesError(
            f"SWATH_INFERENCE_PROCESSES={settings.inference_processes} but SWATH_INFERENCE_GPUS names "
            f"{len(gpus)} devices ({','.join(gpus)}): one process per device; unset one of them or make them agree"
        )
    return len(gpus)


def port_offset(role: TaskQueue, index: int = 0) -> int:
    """A process's port, counted from the base port: its queue's position for a pool's first
    process, after the base block for the extra inference processes."""
    queues = list(TaskQueue)
    return queues.index(role) if index == 0 else len(queues) + index - 1


def pool_port_count(inference_processes: int) -> int:
    """Consecutive ports from the base port that every pool process of a machine takes."""
    return len(TaskQueue) + inference_processes - 1


def pool_processes(settings: Settings) -> tuple[PoolProcess, ...]:
    """Every pool process of this machine, each pool's first process in task queue order, then the
    extra inference processes; `PoolProcessesError` before anything starts when the settings disagree."""
    count = inference_process_count(settings)
    base = settings.pool_http_base_port
    gpus = settings.inference_gpus
    processes = []
    for role, index in [(queue, 0) for queue in TaskQueue] + [(MULTI_PROCESS_POOL, k) for k in range(1, count)]:
        port = None if base is None else base + port_offset(role, index)
        env = {} if port is None else {"SWATH_POOL_HTTP_PORT": str(port)}
        if role is MULTI_PROCESS_POOL and gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpus[index]
        processes.append(PoolProcess(role=role, index=index, port=port, env=env))
    return tuple(processes)
