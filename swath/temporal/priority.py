"""A run's place in the task queues: Temporal's task-queue Priority and Fairness.

Every run's workflow is started with `run_priority(...)`: its `priority_key` (1 goes first, 5
last), its tenant as the `fairness_key`, and the tenant's weight as the `fairness_weight`. The
workflows pass their own priority on to every activity and child workflow they schedule
(`swath.temporal.activities.execute`), so a backlog on any pool's queue is dispatched by priority
first, then in proportion to the tenants' weights rather than first come, first served.

Priority is on by default in the server; fairness needs `matching.enableFairness` (the embedded
dev server and the tests' start it so; `docs/sharing.md` says how on a cluster and on Temporal
Cloud). A server without it still orders by priority, and within one priority by arrival.
"""

from __future__ import annotations

from temporalio.common import Priority

#: The most urgent priority key, and the least: Temporal's default range.
HIGHEST_PRIORITY = 1
LOWEST_PRIORITY = 5
#: What a run gets unless it asks: the middle of the range (Temporal's own default, 3).
DEFAULT_PRIORITY = 3
#: A tenant's share of dispatch unless an admin set another; the server clamps to [0.001, 1000].
DEFAULT_WEIGHT = 1.0
MIN_WEIGHT = 0.001
MAX_WEIGHT = 1000.0
#: The dynamic-config key that turns fairness on in a self-hosted server (Temporal ≥ 1.29).
FAIRNESS_CONFIG = "matching.enableFairness"


def run_priority(*, priority: int, tenant: str, weight: float = DEFAULT_WEIGHT) -> Priority:
    """The Priority a run's workflow, and every task it schedules, carries."""
    if not HIGHEST_PRIORITY <= priority <= LOWEST_PRIORITY:
        raise ValueError(f"priority {priority} is outside {HIGHEST_PRIORITY}..{LOWEST_PRIORITY}")
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise ValueError(f"fairness weight {weight} is outside {MIN_WEIGHT}..{MAX_WEIGHT}")
    return Priority(priority_key=priority, fairness_key=tenant, fairness_weight=weight)
