"""`TenantSlots`: how many of one kind of long request each tenant holds open on this API process, capped.

An upload holds a connection, a worker thread's writes and a temp file (or a multipart upload) for
as long as its body lasts; an event stream or a `Prefer: wait` holds a connection and a task for as
long as the run takes. A tenant opening many at once would crowd out everyone else (each is a file
descriptor of the one process serving all tenants). Past its cap a tenant's next one is refused
with 429 before any work is done. The count is per process (like the `memory://` rate limits): N
API replicas let a tenant hold N times the cap.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from api.problems import Problem, ProblemType


class Slot:
    """One held slot; `release` gives it back, once however often it is called."""

    def __init__(self, slots: TenantSlots, tenant: str) -> None:
        self._slots = slots
        self._tenant = tenant
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._give_back(self._tenant)

    def around(self, stream: AsyncIterator[str]) -> AsyncIterator[str]:
        """`stream`, released when it ends, fails, is closed, or is dropped without ever starting
        (a client gone before its response's first chunk never runs a generator's `finally`)."""

        async def held() -> AsyncIterator[str]:
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                self.release()

        body = held()
        weakref.finalize(body, self.release)
        return body


class TenantSlots:
    """At most `per_tenant` held at once per tenant; more is `Problem(problem)` with `Retry-After`."""

    def __init__(self, per_tenant: int, *, problem: ProblemType, what: str, retry_after_s: int) -> None:
        self.per_tenant = per_tenant
        self.problem = problem
        self.what = what
        self.retry_after_s = retry_after_s
        self._held: Counter[str] = Counter()

    def in_progress(self, tenant: str) -> int:
        """The tenant's slots held now."""
        return self._held[tenant]

    def take(self, tenant: str) -> Slot:
        """A slot of `tenant`'s until released, or the problem if all are taken.

        No await happens between the check and the count, so the event loop cannot interleave two.
        """
        if self._held[tenant] >= self.per_tenant:
            raise Problem(
                self.problem,
                f"{self._held[tenant]} {self.what} of this tenant are open; at most {self.per_tenant} at a time",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self._held[tenant] += 1
        return Slot(self, tenant)

    @contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        """A slot of `tenant`'s for the block."""
        slot = self.take(tenant)
        try:
            yield
        finally:
            slot.release()

    def _give_back(self, tenant: str) -> None:
        self._held[tenant] -= 1
        if not self._held[tenant]:
            del self._held[tenant]
