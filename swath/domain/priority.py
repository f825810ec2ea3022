"""A run's priority and a tenant's fairness weight: the ranges and defaults every layer agrees on.

How they reach Temporal's task queues is `swath.temporal.priority`.
"""

from __future__ import annotations

#: The most urgent priority key, and the least: Temporal's default range.
HIGHEST_PRIORITY = 1
LOWEST_PRIORITY = 5
#: What a run gets unless it asks: the middle of the range (Temporal's own default, 3).
DEFAULT_PRIORITY = 3
#: A tenant's share of dispatch unless an admin set another; the server clamps to [0.001, 1000].
DEFAULT_WEIGHT = 1.0
MIN_WEIGHT = 0.001
MAX_WEIGHT = 1000.0
