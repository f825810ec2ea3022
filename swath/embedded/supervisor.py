"""A small process supervisor for `swath up`: start, watch, restart with back-off, stop in order.

Children are started in their own session so a Ctrl-C in the terminal reaches only the supervisor,
which then stops them in reverse start order (workers before PostgreSQL). On Linux each child also
gets a parent-death signal, so a supervisor killed with SIGKILL does not leave orphans behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swath.domain.errors import ChildExitedError

__all__ = [
    "ChildSpec",
    "Supervisor",
    "parent_death_preexec",
    "terminate",
    "wait_ready_or_exit",
]

_log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# Resolved once here: the preexec function runs between fork and exec, where loading a library
# (taking locks another thread may hold) could deadlock.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def parent_death_preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive `sig` when the spawning thread dies (Linux only).

    The kernel clears this setting when the child's credentials change, but Python changes the
    uid/gid (`user=`, `group=`) *before* calling `preexec_fn`, so it holds for children run as
    another user too; it also survives `exec` of an ordinary (non-setuid) binary. It is tied to
    the thread that forks, i.e. the event loop's thread, which lives as long as the supervisor.
    """
    if _prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        # The parent may have died between fork and prctl; then no signal would ever come.
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


async def terminate(proc: asyncio.subprocess.Process, sig: int, timeout: float) -> int:
    """Send `sig`, wait up to `timeout` seconds, then SIGKILL; return the exit code."""
    if proc.returncode is None:
        try:
            proc.send_signal(sig)
            return await asyncio.wait_for(proc.wait(), timeout)
        except ProcessLookupError:
            pass
        except TimeoutError:
            _log.warning("pid %s did not exit %.0fs after signal %s; killing it", proc.pid, timeout, sig)
            try:
                proc.kill()
            except ProcessLookupError:
                pass
    return await proc.wait()


async def wait_ready_or_exit(
    proc: asyncio.subprocess.Process, ready: Callable[[], Awaitable[None]] | None, name: str
) -> None:
    """Await `ready()` unless the process exits first (then raise `ChildExitedError`)."""
    if ready is None:
        return
    ready_task = asyncio.ensure_future(ready())
    exit_task = asyncio.ensure_future(proc.wait())
    try:
        await asyncio.wait({ready_task, exit_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Cancelling here also covers our own cancellation while waiting.
        for task in (ready_task, exit_task):
            if not task.done():
                task.cancel()
    if not ready_task.done() or ready_task.cancelled():
        raise ChildExitedError(f"{name} exited with {proc.returncode} before it was ready")
    ready_task.result()


@dataclass(frozen=True)
class ChildSpec:
    """How to run one supervised child process."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    #: Extra `subprocess.Popen` arguments, e.g. `user=`/`group=`; may override `start_new_session`.
    popen_kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: Awaited after each (re)start; the child counts as started once it returns.
    ready: Callable[[], Awaitable[None]] | None = None
    #: Sent on stop, and (Linux) delivered by the kernel if the supervisor dies.
    stop_signal: int = signal.SIGTERM
    #: Awaited before each (re)start, e.g. to clear a stale PostgreSQL pid file.
    prepare: Callable[[], Awaitable[None]] | None = None


@dataclass
class _Child:
    spec: ChildSpec
    proc: asyncio.subprocess.Process
    started_at: float
    restarts: int = 0
    failures: int = 0
    watcher: asyncio.Task[None] | None = None


class Supervisor:
    """Runs child processes, restarts the ones that exit, and stops them in reverse order."""

    def __init__(
        self,
        *,
        log_dir: Path,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stop_timeout: float = 15.0,
        healthy_after: float = 30.0,
        logger: logging.Logger = _log,
    ) -> None:
        """`healthy_after`: seconds a child must stay up for its back-off to start over."""
        self._log_dir = Path(log_dir)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._stop_timeout = stop_timeout
        self._healthy_after = healthy_after
        self._logger = logger
        self._children: dict[str, _Child] = {}
        self._running = False
        self._stopping = asyncio.Event()
        self._stop_task: asyncio.Task[None] | None = None

    def log_file(self, name: str) -> Path:
        """Where a child's stdout and stderr are appended."""
        return self._log_dir / f"{name}.log"

    async def _spawn(self, spec: ChildSpec) -> asyncio.subprocess.Process:
        if spec.prepare is not None:
            await spec.prepare()
        self._log_dir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"start_new_session": True, **spec.popen_kwargs}
        own_preexec = kwargs.pop("preexec_fn", None)
        death = parent_death_preexec(spec.stop_signal)
        if own_preexec is not None and death is not None:

            def preexec() -> None:
                death()
                own_preexec()

            kwargs["preexec_fn"] = preexec
        else:
            kwargs["preexec_fn"] = own_preexec or death
        with open(self.log_file(spec.name), "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {spec.name}: {list(spec.argv)}\n".encode())
            log.flush()
            # The child keeps its own copy of the descriptor; ours can close right away.
            proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=None if spec.env is None else dict(spec.env),
                cwd=spec.cwd,
                **kwargs,
            )
        self._logger.info("started %s (pid %s)", spec.name, proc.pid)
        return proc

    async def _spawn_ready(self, spec: ChildSpec) -> asyncio.subprocess.Process:
        proc = await self._spawn(spec)
        try:
            await wait_ready_or_exit(proc, spec.ready, spec.name)
        except BaseException:
            await terminate(proc, spec.stop_signal, self._stop_timeout)
            raise
        return proc

    async def start(self, spec: ChildSpec) -> None:
        """Spawn a child and await its readiness; raises if it exits (or `ready` fails) first."""
        if spec.name in self._children:
            raise ValueError(f"a child named {spec.name!r} is already supervised")
        if self._stopping.is_set():
            raise RuntimeError("the supervisor is stopping")
        proc = await self._spawn_ready(spec)
        child = _Child(spec=spec, proc=proc, started_at=time.monotonic())
        self._children[spec.name] = child
        if self._running:
            child.watcher = asyncio.create_task(self._watch(child))

    async def run(self) -> None:
        """Watch the children until `stop()`, restarting any that exit."""
        self._running = True
        for child in self._children.values():
            if child.watcher is None:
                child.watcher = asyncio.create_task(self._watch(child))
        await self._stopping.wait()
        if self._stop_task is not None:
            await asyncio.shield(self._stop_task)

    def _next_delay(self, child: _Child) -> float:
        if time.monotonic() - child.started_at >= self._healthy_after:
            child.failures = 0
        delay = min(self._backoff_max, self._backoff_initial * 2**child.failures)
        child.failures += 1
        return delay

    async def _watch(self, child: _Child) -> None:
        spec = child.spec
        while not self._stopping.is_set():
            code = await child.proc.wait()
            if self._stopping.is_set():
                return
            delay = self._next_delay(child)
            self._logger.warning("restarting %s (exited with %s) in %ss", spec.name, code, f"{delay:g}")
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
                return
            except TimeoutError:
                pass
            try:
                proc = await self._spawn_ready(spec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A child that fails to come back counts as another exit; the back-off grows.
                self._logger.error("restart of %s failed: %s", spec.name, exc)
                child.started_at = time.monotonic()
                continue
            child.proc = proc
            child.started_at = time.monotonic()
            child.restarts += 1

    async def stop(self) -> None:
        """Stop every child in reverse start order (stop signal, then SIGKILL); idempotent."""
        if self._stop_task is None:
            self._stopping.set()
            self._stop_task = asyncio.create_task(self._stop_all())
        await asyncio.shield(self._stop_task)

    async def _stop_all(self) -> None:
        for child in self._children.values():
            if child.watcher is not None:
                child.watcher.cancel()
        for child in self._children.values():
            if child.watcher is not None:
                await asyncio.gather(child.watcher, return_exceptions=True)
        for child in reversed(list(self._children.values())):
            code = await terminate(child.proc, child.spec.stop_signal, self._stop_timeout)
            self._logger.info("stopped %s (exit code %s)", child.spec.name, code)

    def pid(self, name: str) -> int | None:
        """The current pid of a running child, or None."""
        child = self._children.get(name)
        if child is None or child.proc.returncode is not None:
            return None
        return child.proc.pid

    def restarts(self, name: str) -> int:
        """How many times a child has been restarted."""
        return self._children[name].restarts
