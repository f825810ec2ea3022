"""Capping a process's address space, so an allocation nothing else bounded fails with
`MemoryError` in that process instead of the kernel's OOM killer taking the machine's workers."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def limit_address_space(limit_bytes: int | None) -> None:
    """Lower `RLIMIT_AS` to `limit_bytes` (never raise it); `None` or 0 leaves it as it is."""
    if not limit_bytes:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    new_soft = min(x for x in (soft, hard, limit_bytes) if x != resource.RLIM_INFINITY)
    resource.setrlimit(resource.RLIMIT_AS, (new_soft, hard))
    log.info("address space limited to %d bytes", new_soft)
