"""The dynamic batcher on its own: batch formation, waiting, routing, cancel, isolation, bounds, fairness."""

from __future__ import annotations

import asyncio
import threading

import pytest

from swath.models.batcher import BatchPolicy, BatchRecord, DynamicBatcher
from tests.utils.polling import eventually


class Model:
    """Doubles each number; raises on negative ones; can be held so batches pile up behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        #: Forward passes begun (some may be held at the gate).
        self.started = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items: list[int]) -> list[int]:
        self.started += 1
        self.gate.wait(timeout=30)
        self.batches.append(list(items))
        if any(i < 0 for i in items):
            raise ValueError(f"poisoned input in {items}")
        return [2 * i for i in items]


def batcher(model: Model, *, size: int = 8, wait_s: float = 0.05, queued: int = 1000, records=None):
    return DynamicBatcher(
        model, BatchPolicy(max_batch_size=size, max_wait_s=wait_s, max_queued_items=queued),
        on_batch=records.append if records is not None else None,
    )


async def until(predicate) -> None:
    await eventually(predicate, timeout=3, interval=0.001, what="condition not reached")


async def test_batches_fill_up_to_the_maximum_across_callers() -> None:
    model, records = Model(), []
    b = batcher(model, size=8, wait_s=10, records=records)  # only full batches are sent before 10 s
    results = await asyncio.gather(*(b.submit([10 * c + i for i in range(4)]) for c in range(6)))
    assert results == [[2 * (10 * c + i) for i in range(4)] for c in range(6)]
    assert [r.size for r in records] == [8, 8, 8]
    assert all(r.submissions > 1 for r in records)
    await b.close()


async def test_a_lone_request_goes_when_its_wait_is_over() -> None:
    model, records = Model(), []
    b = batcher(model, size=64, wait_s=0.05, records=records)
    assert await b.submit([1, 2]) == [2, 4]
    (record,) = records
    assert record.size == 2
    # It was sent because its wait ran out (not because the batch filled), and not long after.
    assert all(0.05 <= w < 5 for w in record.queue_waits_s)
    await b.close()


async def test_each_caller_gets_its_own_results_in_its_order() -> None:
    model = Model()
    b = batcher(model, size=5, wait_s=0.01)
    inputs = [list(range(c * 100, c * 100 + n)) for c, n in enumerate([1, 7, 3, 12, 2])]
    results = await asyncio.gather(*(b.submit(items) for items in inputs))
    assert results == [[2 * i for i in items] for items in inputs]
    await b.close()


async def test_a_cancelled_caller_leaves_the_queue() -> None:
    model = Model()
    model.gate.clear()  # the first batch holds the forward loop
    b = batcher(model, size=2, wait_s=0)
    first = asyncio.create_task(b.submit([1, 2]))
    await until(lambda: model.started == 1)
    cancelled = asyncio.create_task(b.submit([3, 4, 5, 6]))
    await until(lambda: b.queued == 4)
    cancelled.cancel()
    await until(lambda: b.queued == 0)
    model.gate.set()
    assert await first == [2, 4]
    assert await b.submit([7]) == [14]
    assert [3, 4] not in model.batches and all(3 not in batch for batch in model.batches)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await b.close()


async def test_a_poisoned_item_fails_alone() -> None:
    model = Model()
    b = batcher(model, size=8, wait_s=10)
    healthy, mixed = await asyncio.gather(b.submit([1, 2, 3, 4]), b.submit([5, -6, 7, 8]))
    assert healthy == [2, 4, 6, 8]
    assert mixed[0] == 10 and mixed[2:] == [14, 16]
    assert isinstance(mixed[1], ValueError) and "-6" in str(mixed[1])
    await b.close()


async def test_callers_wait_for_room_when_the_queue_is_full() -> None:
    model = Model()
    model.gate.clear()
    b = batcher(model, size=2, wait_s=0, queued=4)
    running = asyncio.create_task(b.submit([1, 2]))  # taken into the held batch
    await until(lambda: model.started == 1)
    queued = asyncio.create_task(b.submit([3, 4, 5, 6]))  # fills the queue
    await until(lambda: b.queued == 4)
    held_back = asyncio.create_task(b.submit([7]))
    await asyncio.sleep(0.05)
    assert b.queued == 4 and not held_back.done()  # back-pressure: not admitted
    model.gate.set()
    assert await asyncio.gather(running, queued, held_back) == [[2, 4], [6, 8, 10, 12], [14]]
    await b.close()


async def test_a_small_caller_is_not_starved_by_a_large_one() -> None:
    model, records = Model(), []
    model.gate.clear()
    b = batcher(model, size=4, wait_s=0, records=records)
    warm = asyncio.create_task(b.submit([0]))
    await until(lambda: model.started == 1)
    scene = asyncio.create_task(b.submit(list(range(100, 200))))  # 100 items, 25 batches
    await until(lambda: b.queued == 100)
    tile = asyncio.create_task(b.submit([7]))
    await until(lambda: b.queued == 101)
    model.gate.set()
    assert await tile == [14]
    await scene
    await warm
    # The tile went in the first batch formed after it arrived, beside the scene's items.
    assert 7 in model.batches[1]
    await b.close()


async def test_a_tenant_with_many_submissions_gets_no_more_of_a_batch_than_one_with_one() -> None:
    model = Model()
    model.gate.clear()
    b = batcher(model, size=4, wait_s=0)
    warm = asyncio.create_task(b.submit([0]))
    await until(lambda: model.started == 1)
    # Tenant a: three runs of 8 items each; tenant b: one run of 8.
    a_runs = [asyncio.create_task(b.submit(list(range(100 * r, 100 * r + 8)), tenant="a")) for r in (1, 2, 3)]
    await until(lambda: b.queued == 24)
    b_run = asyncio.create_task(b.submit(list(range(900, 908)), tenant="b"))
    await until(lambda: b.queued == 32)
    model.gate.set()
    await asyncio.gather(*a_runs, b_run, warm)
    # Every batch formed while both waited was half a's, half b's: b's 8 items went in the first four.
    for batch in model.batches[1:5]:
        assert sum(i >= 900 for i in batch) == 2
    await b.close()


async def test_tenants_share_batches_in_proportion_to_their_weights() -> None:
    model = Model()
    model.gate.clear()
    b = batcher(model, size=4, wait_s=0)
    warm = asyncio.create_task(b.submit([0]))
    await until(lambda: model.started == 1)
    heavy = asyncio.create_task(b.submit(list(range(100, 140)), tenant="heavy", weight=3.0))
    light = asyncio.create_task(b.submit(list(range(900, 940)), tenant="light", weight=1.0))
    await until(lambda: b.queued == 80)
    model.gate.set()
    await asyncio.gather(heavy, light, warm)
    first_ten = [i for batch in model.batches[1:11] for i in batch]  # both still waiting throughout
    assert sum(i >= 900 for i in first_ten) == 10
    assert sum(100 <= i < 900 for i in first_ten) == 30
    await b.close()


async def test_a_weight_must_be_positive() -> None:
    b = batcher(Model())
    with pytest.raises(ValueError, match="weight"):
        await b.submit([1], tenant="a", weight=0)
    await b.close()


def test_a_policy_must_make_sense() -> None:
    with pytest.raises(ValueError):
        BatchPolicy(max_batch_size=0, max_wait_s=0.01, max_queued_items=10)
    with pytest.raises(ValueError):
        BatchPolicy(max_batch_size=8, max_wait_s=0.01, max_queued_items=10, max_in_flight=0)


def test_batch_records_are_plain_values() -> None:
    assert BatchRecord(2, (0.1, 0.2), 0.3, 1) == BatchRecord(2, (0.1, 0.2), 0.3, 1)


async def test_a_pipelined_batcher_sends_the_next_batch_while_one_runs() -> None:
    model = Model()
    model.gate.clear()  # hold every forward pass once begun
    b = DynamicBatcher(model, BatchPolicy(max_batch_size=2, max_wait_s=0, max_queued_items=100, max_in_flight=2))
    calls = [asyncio.create_task(b.submit([i, i + 1])) for i in (0, 2, 4)]
    await until(lambda: model.started == 2)
    await asyncio.sleep(0.05)
    assert model.started == 2 and b.queued == 2  # two in flight; the third batch waits for a slot
    model.gate.set()
    assert await asyncio.gather(*calls) == [[0, 2], [4, 6], [8, 10]]
    await b.close()


async def test_taken_is_called_once_every_item_is_in_a_batch() -> None:
    model = Model()
    model.gate.clear()
    b = batcher(model, size=2, wait_s=0)
    taken: list[str] = []
    call = asyncio.create_task(b.submit([1, 2, 3], taken=lambda: taken.append("three")))
    await until(lambda: model.started == 1)
    assert taken == []  # one item still waits
    model.gate.set()
    assert await call == [2, 4, 6]
    assert taken == ["three"]
    await b.close()


async def test_taken_is_not_called_for_a_withdrawn_submission() -> None:
    model = Model()
    model.gate.clear()
    b = batcher(model, size=1, wait_s=0)
    first = asyncio.create_task(b.submit([1]))
    await until(lambda: model.started == 1)
    taken: list[int] = []
    second = asyncio.create_task(b.submit([2], taken=lambda: taken.append(2)))
    await until(lambda: b.queued == 1)
    second.cancel()
    await until(lambda: b.queued == 0)
    model.gate.set()
    assert await first == [2]
    await asyncio.sleep(0.05)
    assert taken == []
    await b.close()


async def test_a_caller_pipelining_on_taken_gets_whole_batches_of_its_own() -> None:
    """One batch queued behind the one running, submitted once that one is taken: no pass mixes
    two of its submissions, and the next pass starts before the caller sees the last results."""
    model = Model()
    b = batcher(model, size=4, wait_s=0.05)
    ahead: tuple[asyncio.Task, asyncio.Event] | None = None
    results = []
    for start in range(0, 40, 4):
        if ahead is not None:
            await ahead[1].wait()
        taken = asyncio.Event()
        call = asyncio.create_task(b.submit(list(range(start, start + 4)), taken=taken.set))
        if ahead is not None:
            results += await ahead[0]
            # Its pass done, the batch behind it was already sent (the slot frees before results go out).
            assert taken.is_set() or call.done()
        ahead = (call, taken)
    results += await ahead[0]
    assert results == [2 * i for i in range(40)]
    assert model.batches == [list(range(s, s + 4)) for s in range(0, 40, 4)]
    await b.close()
