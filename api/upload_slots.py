"""`UploadSlots`: how many uploads each tenant has in progress on this API process, capped.

An upload holds a connection, a worker thread's writes and a temp file (or a multipart upload)
for as long as its body lasts; a tenant opening many at once would crowd out everyone else. Past
its cap a tenant's next upload is refused with 429 before its body is read. The count is per
process (like the `memory://` rate limits): N API replicas let a tenant hold N times the cap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from api.problems import Problem, ProblemType

#: What a refused upload is told to wait: uploads last seconds to minutes, so soon, not at once.
RETRY_AFTER_S = 5


class UploadSlots:
    """At most `per_tenant` uploads in progress per tenant; `hold` takes one for a `with` block."""

    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._held: Counter[str] = Counter()

    def in_progress(self, tenant: str) -> int:
        """The tenant's uploads in progress now."""
        return self._held[tenant]

    @contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        """A slot of `tenant`'s for the block, or `Problem(TOO_MANY_UPLOADS)` if all are taken.

        No await happens between the check and the count, so the event loop cannot interleave two.
        """
        if self._held[tenant] >= self.per_tenant:
            raise Problem(
                ProblemType.TOO_MANY_UPLOADS,
                f"{self._held[tenant]} uploads of this tenant are in progress; at most {self.per_tenant} at a time",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self._held[tenant] += 1
        try:
            yield
        finally:
            self._held[tenant] -= 1
            if not self._held[tenant]:
                del self._held[tenant]
