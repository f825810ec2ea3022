"""The dynamic batcher: many callers' items, one forward pass at a time (plain asyncio, no Temporal).

Concurrent callers — inference activities of any number of runs — `submit` their items to one
batcher per model and device. A single loop forms batches of at most `max_batch_size` items,
waiting at most `max_wait_s` after the oldest waiting item for more (Triton's
`max_queue_delay_microseconds`, Ray Serve's `batch_wait_timeout_s`), runs the forward pass in a
thread, and hands each caller exactly its own results, in its order.

- **Fair**: a batch takes items from the waiting tenants by smooth weighted round-robin (each
  tenant's share of a batch follows its weight), and round-robin from each tenant's waiting
  submissions, so a one-tile run is in the next batch however large the scene queued before it,
  and a tenant with many runs waiting gets no more of a batch than one with a single run.
- **Bounded**: at most `max_queued_items` wait; `submit` waits for room (back-pressure). A
  submission larger than the bound is admitted alone, when nothing else waits.
- **Cancellable**: a cancelled caller's waiting items leave the queue at once.
- **Isolating**: a batch whose forward pass raises is split in halves until the items that fail
  are alone; each of those gets its exception as its result, every other item its real one. A
  forward may also return an exception in an item's place (the served model does, for an item
  that runs out of GPU memory alone); it reaches that item's caller like a raised one.
- **Pipelined** (`max_in_flight` > 1): the next batch is formed and sent while the previous one
  runs, so on a GPU one batch's host→device copy overlaps the other's compute. A pass's slot frees
  as the pass returns, before its callers wake, so the next pass never waits for what a caller
  does with its results on the loop; `submit(taken=…)` tells a caller feeding batches one ahead
  when to send the next.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from swath.domain.priority import DEFAULT_WEIGHT

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchPolicy:
    """How batches are formed."""

    max_batch_size: int
    max_wait_s: float
    max_queued_items: int
    #: Forward passes that may run at once (each in its own thread): 1 on a CPU, where a second
    #: pass would only share the cores; 2 on a GPU (`swath.models.serving.ServedModel.in_flight`).
    max_in_flight: int = 1

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_wait_s < 0 or self.max_queued_items < 1 or self.max_in_flight < 1:
            raise ValueError(f"invalid batch policy: {self}")


@dataclass(frozen=True)
class BatchRecord:
    """What one forward pass was: its size, how long each item waited, and the pass itself."""

    size: int
    queue_waits_s: tuple[float, ...]
    forward_s: float
    submissions: int
    #: Items whose result is an exception (their forward failed alone, or returned one in their place).
    failed: int = 0


@dataclass(eq=False)
class _Submission(Generic[T, R]):
    items: Sequence[T]
    enqueued_at: float
    done: asyncio.Future[list[R | Exception]]
    tenant: str = ""
    weight: float = DEFAULT_WEIGHT
    #: Called (soon, on the loop) once the last of its items is taken into a batch.
    taken: Callable[[], None] | None = None
    next_index: int = 0
    outstanding: int = 0
    results: list[R | Exception | None] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return len(self.items) - self.next_index


class DynamicBatcher(Generic[T, R]):
    """One queue and one forward loop; `forward(items) -> results` runs in a worker thread."""

    def __init__(
        self,
        forward: Callable[[list[T]], Sequence[R]],
        policy: BatchPolicy,
        *,
        on_batch: Callable[[BatchRecord], None] | None = None,
    ) -> None:
        self.forward = forward
        self.policy = policy
        self.on_batch = on_batch
        #: Waiting submissions by tenant (a deque each, rotated round-robin), only tenants with some.
        self._waiting: dict[str, deque[_Submission[T, R]]] = {}
        #: Smooth weighted round-robin credit of each waiting tenant (nginx's `current_weight`).
        self._credit: dict[str, float] = {}
        self._queued = 0
        #: Items taken into a batch whose results have not been handed out yet.
        self._in_flight = 0
        self._changed = asyncio.Condition()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        """Items waiting for a batch."""
        return self._queued

    @property
    def idle(self) -> bool:
        """Whether no item waits and none is in a forward pass: closing it now fails no caller."""
        return self._queued == 0 and self._in_flight == 0

    async def submit(
        self, items: Sequence[T], *, tenant: str = "", weight: float = DEFAULT_WEIGHT,
        taken: Callable[[], None] | None = None,
    ) -> list[R | Exception]:
        """Each item's result (or the exception its forward pass raised), in the items' order.

        `tenant` and `weight` decide the share of each batch the items compete for: tenants with
        items waiting share a batch in proportion to their weights (a tenant's latest weight counts).
        `taken` is called, on the loop, once every item is in a batch (never for withdrawn items): a
        caller that pipelines its batches submits the next one then, so that it waits alone. Two
        submissions of one tenant waiting together share batches item by item (the rotation
        above), so both finish only with the later one, and the model idles while their caller
        works on two results at once.
        """
        if not items:
            return []
        if not weight > 0:
            raise ValueError(f"a batcher weight must be positive, not {weight}")
        self._ensure_running()
        loop = asyncio.get_running_loop()
        async with self._changed:
            await self._changed.wait_for(lambda: self._has_room(len(items)))
            sub: _Submission[T, R] = _Submission(items, time.monotonic(), loop.create_future(), tenant, weight, taken)
            sub.results = [None] * len(items)
            self._waiting.setdefault(tenant, deque()).append(sub)
            self._queued += len(items)
            self._changed.notify_all()
        try:
            return await asyncio.shield(sub.done)
        except asyncio.CancelledError:
            await self._withdraw(sub)
            raise

    async def close(self) -> None:
        """Stop the loop; callers still waiting are cancelled."""
        if self._loop_task:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        for waiting in self._waiting.values():
            for sub in waiting:
                sub.done.cancel()
        self._waiting.clear()
        self._credit.clear()
        self._queued = 0

    def _has_room(self, count: int) -> bool:
        return self._queued == 0 or self._queued + count <= self.policy.max_queued_items

    def _ensure_running(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name="dynamic-batcher")

    async def _withdraw(self, sub: _Submission[T, R]) -> None:
        async with self._changed:
            waiting = self._waiting.get(sub.tenant)
            if waiting is not None and sub in waiting:
                waiting.remove(sub)
                if not waiting:
                    self._forget(sub.tenant)
                self._queued -= sub.waiting
                sub.next_index = len(sub.items)
                self._changed.notify_all()

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.policy.max_in_flight)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await slots.acquire()
                batch = await self._next_batch()
                task = asyncio.create_task(self._execute(batch, slots.release), name="dynamic-batcher-forward")
                running.add(task)
                task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()

    async def _next_batch(self) -> list[tuple[_Submission[T, R], int]]:
        """Wait for a full batch or for the oldest item's deadline, then take items round-robin."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._queued > 0)
            deadline = self._oldest() + self.policy.max_wait_s
            while self._queued < self.policy.max_batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=remaining)
                except TimeoutError:
                    break
                if self._queued == 0:  # every waiting caller withdrew
                    await self._changed.wait_for(lambda: self._queued > 0)
                    deadline = self._oldest() + self.policy.max_wait_s
            batch = self._take_round_robin()
            self._changed.notify_all()  # room for callers held back by the bound
            return batch

    def _oldest(self) -> float:
        """When the longest-waiting submission arrived."""
        return min(sub.enqueued_at for waiting in self._waiting.values() for sub in waiting)

    def _forget(self, tenant: str) -> None:
        """A tenant with nothing waiting leaves the rotation (and its credit with it)."""
        del self._waiting[tenant]
        self._credit.pop(tenant, None)

    def _next_tenant(self) -> str:
        """Smooth weighted round-robin: every waiting tenant earns its weight, the richest is
        served and pays the total; over a round each tenant is served in proportion to its weight,
        interleaved rather than in runs."""
        total = 0.0
        for tenant, waiting in self._waiting.items():
            weight = waiting[-1].weight
            self._credit[tenant] = self._credit.get(tenant, 0.0) + weight
            total += weight
        chosen = max(self._waiting, key=lambda t: self._credit[t])
        self._credit[chosen] -= total
        return chosen

    def _take_round_robin(self) -> list[tuple[_Submission[T, R], int]]:
        batch: list[tuple[_Submission[T, R], int]] = []
        while self._waiting and len(batch) < self.policy.max_batch_size:
            tenant = self._next_tenant()
            waiting = self._waiting[tenant]
            sub = waiting.popleft()
            batch.append((sub, sub.next_index))
            sub.next_index += 1
            sub.outstanding += 1
            self._queued -= 1
            self._in_flight += 1
            if sub.waiting:
                waiting.append(sub)
            else:
                if sub.taken is not None:  # soon, not now: a caller's error must not stop the loop
                    asyncio.get_running_loop().call_soon(sub.taken)
                if not waiting:
                    self._forget(tenant)
        return batch

    async def _execute(self, batch: list[tuple[_Submission[T, R], int]], forwarded: Callable[[], None]) -> None:
        """Run the batch's forward pass, call `forwarded` (its in-flight slot is free), then hand out its results."""
        started = time.monotonic()
        waits = tuple(started - sub.enqueued_at for sub, _ in batch)
        try:
            outcomes = await self._forward_isolating([sub.items[i] for sub, i in batch])
        except Exception as err:  # a forward that breaks its contract fails its batch, not the loop
            outcomes = [err] * len(batch)
        finally:
            self._in_flight -= len(batch)
            # The slot is freed before the results wake their callers, so the loop's wake-up runs
            # first and the next batch's pass starts at once: a caller that works on its results
            # on the event loop (a scene block blends them) no longer holds the next pass back.
            forwarded()
        if self.on_batch:
            failed = sum(isinstance(outcome, Exception) for outcome in outcomes)
            self.on_batch(BatchRecord(
                len(batch), waits, time.monotonic() - started, len({id(s) for s, _ in batch}), failed=failed,
            ))
        for (sub, index), outcome in zip(batch, outcomes):
            sub.results[index] = outcome
            sub.outstanding -= 1
            if sub.outstanding == 0 and sub.next_index == len(sub.items) and not sub.done.done():
                sub.done.set_result(list(sub.results))  # type: ignore[arg-type]

    async def _forward_isolating(self, items: list[T]) -> list[R | Exception]:
        """The batch's results; on a failure, halves until each failing item is alone."""
        try:
            results = await asyncio.to_thread(self.forward, items)
        except Exception as err:
            if len(items) == 1:
                return [err]
            middle = len(items) // 2
            return await self._forward_isolating(items[:middle]) + await self._forward_isolating(items[middle:])
        if len(results) != len(items):
            raise RuntimeError(f"forward returned {len(results)} results for {len(items)} items")
        return list(results)
