"""`validate_in_child`: a pushed version's validation in a child process the inference pool can kill.

A model is its owner's program in all but name: an ONNX graph or a torch.export program decides
what its forward pass allocates and how long it runs. Validated in the inference pool's own
process, a hostile or careless one could take the pool's memory (and every tenant's inference with
it) or hold an executor thread for ever. So each validation runs in a fresh child process:

- spawned, not forked: safe beside the pool's threads and a CUDA context;
- its address space capped at `ValidationBudget.max_memory_bytes` on the CPU (`RLIMIT_AS`: an
  allocation past it fails inside the child; CUDA reserves address space far beyond what it uses,
  so on a GPU the cap is left off), and first in line for the kernel's OOM killer
  (`oom_score_adj` 1000) whatever the device;
- killed when it outlives `ValidationBudget.max_seconds`, or when the activity is cancelled.

The pool waits for the answer on its event loop, holding no thread. Whatever ends the child
without an answer is a rejection its owner can read.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from swath.domain.errors import ModelRejectedError
from swath.imagery.decoder import readable
from swath.imagery.memory_limit import limit_address_space
from swath.models.validation import ValidationBudget, validate_version

_CONTEXT = multiprocessing.get_context("spawn")


def _validate(conn: Connection, stored: dict[str, Any], path: str, device: str, budget: ValidationBudget) -> None:
    """The child: validate, send ("ok", seconds) or ("rejected", reason), exit."""
    try:
        Path("/proc/self/oom_score_adj").write_text("1000")
    except OSError:  # not Linux, or /proc read-only: the address-space cap still holds on the CPU
        pass
    if device == "cpu":
        limit_address_space(budget.max_memory_bytes)
    try:
        answer: tuple[str, Any] = ("ok", validate_version(stored, Path(path), device=device, budget=budget))
    except ModelRejectedError as err:
        answer = ("rejected", str(err))
    except MemoryError:
        answer = ("rejected", f"validating the model needed more than {budget.max_memory_bytes} bytes of memory")
    conn.send(answer)
    conn.close()


async def validate_in_child(
    stored: dict[str, Any], path: Path, *, device: str = "cpu", budget: ValidationBudget = ValidationBudget()
) -> float:
    """`validate_version` in a child process within `budget`; the forward pass's seconds, or
    `ModelRejectedError` with the reason (the child's own, or what ended it)."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_validate, args=(sender, stored, str(path), device, budget), name="swath-model-validation", daemon=True
    )
    child.start()
    sender.close()
    try:
        try:
            await asyncio.wait_for(readable(receiver), timeout=budget.max_seconds)
        except TimeoutError:
            raise ModelRejectedError(
                f"validation (loading the model and one forward pass) took longer than {budget.max_seconds:g} s"
            ) from None
        try:
            kind, value = receiver.recv()
        except (EOFError, OSError):  # the child ended without an answer
            child.join(5)
            raise ModelRejectedError(_ended(child.exitcode, budget)) from None
    finally:
        if child.is_alive():
            child.kill()
        await asyncio.to_thread(child.join, 5)
        receiver.close()
    if kind == "rejected":
        raise ModelRejectedError(value)
    return value


def _ended(exitcode: int | None, budget: ValidationBudget) -> str:
    if exitcode == -signal.SIGKILL:
        return (
            "validation was killed by the system, most likely for memory (loading the model and one forward "
            f"pass may use {budget.max_memory_bytes} bytes)"
        )
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = str(-exitcode)
        return f"the model's runtime crashed during validation (signal {name})"
    return f"validation ended without an answer (exit code {exitcode})"

