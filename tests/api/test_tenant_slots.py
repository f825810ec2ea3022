"""`TenantSlots`: a tenant's long requests counted, refused past the cap, and every slot given back
however its holder ends (a stream that ends, fails, is closed, or is dropped without starting)."""

from __future__ import annotations

import gc

import pytest

from api.problems import Problem, ProblemType
from api.tenant_slots import TenantSlots


def _slots(cap: int = 2) -> TenantSlots:
    return TenantSlots(cap, problem=ProblemType.TOO_MANY_STREAMS, what="event streams", retry_after_s=5)


async def _events():
    yield "a"
    yield "b"


def test_past_the_cap_is_the_problem_with_retry_after_and_other_tenants_are_apart() -> None:
    slots = _slots()
    held = [slots.take("acme"), slots.take("acme")]
    with pytest.raises(Problem) as caught:
        slots.take("acme")
    assert caught.value.type is ProblemType.TOO_MANY_STREAMS and caught.value.headers == {"Retry-After": "5"}
    assert slots.take("globex") is not None
    held[0].release()
    held[0].release()  # once, however often
    assert slots.in_progress("acme") == 1
    slots.take("acme")


async def test_a_stream_gives_its_slot_back_when_it_ends_or_is_closed() -> None:
    slots = _slots()
    ended = slots.take("acme").around(_events())
    assert [chunk async for chunk in ended] == ["a", "b"]
    closed = slots.take("acme").around(_events())
    assert await anext(closed) == "a"
    assert slots.in_progress("acme") == 1
    await closed.aclose()
    assert slots.in_progress("acme") == 0


def test_a_stream_dropped_before_it_started_gives_its_slot_back() -> None:
    slots = _slots()
    body = slots.take("acme").around(_events())
    assert slots.in_progress("acme") == 1
    del body
    gc.collect()
    assert slots.in_progress("acme") == 0


def test_hold_gives_the_slot_back_on_error() -> None:
    slots = _slots(1)
    with pytest.raises(RuntimeError), slots.hold("acme"):
        raise RuntimeError
    assert slots.in_progress("acme") == 0
