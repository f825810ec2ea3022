"""A run's place in the task queues: Temporal's task-queue Priority and Fairness.

Every run's workflow is started with `run_priority(...)`: its `priority_key` (1 goes first, 5
last), its tenant as the `fairness_key`, and the tenant's weight as the `fairness_weight`. The
workflows pass their own priority on to every activity and child workflow they schedule
(`swath.temporal.catalog.execute`), so a backlog on any pool's queue is dispatched by priority
first, then in proportion to the tenants' weights rather than first come, first served.

Priority is on by default in the server; fairness needs `matching.enableFairness` (the embedded
dev server and the tests' start it so; `docs/sharing.md` says how on a cluster and on Temporal
Cloud). A server without it still orders by priority, and within one priority by arrival.
"""

from __future__ import annotations

from temporalio.common import Priority

from swath.domain.priority import DEFAULT_WEIGHT, HIGHEST_PRIORITY, LOWEST_PRIORITY, MAX_WEIGHT, MIN_WEIGHT

#: The dynamic-config key that turns fairness on in a self-hosted server (Temporal ≥ 1.29).
FAIRNESS_CONFIG = "matching.enableFairness"


def run_priority(*, priority: int, tenant: str, weight: float = DEFAULT_WEIGHT) -> Priority:
    """The Priority a run's workflow, and every task it schedules, carries."""
    if not HIGHEST_PRIORITY <= priority <= LOWEST_PRIORITY:
        raise ValueError(f"priority {priority} is outside {HIGHEST_PRIORITY}..{LOWEST_PRIORITY}")
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise ValueError(f"fairness weight {weight} is outside {MIN_WEIGHT}..{MAX_WEIGHT}")
    return Priority(priority_key=priority, fairness_key=tenant, fairness_weight=weight)
