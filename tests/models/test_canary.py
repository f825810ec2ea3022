"""The deterministic chooser of a weighted alias (pure: a unit test of one module)."""

import math
import uuid

from swath.models.canary import Target, choose


def test_a_90_10_canary_over_200_runs_splits_within_bounds_and_is_deterministic() -> None:
    targets = [Target("1.0.0", 90), Target("1.1.0", 10)]
    run_ids = [str(uuid.UUID(int=n * 7919 + 1)) for n in range(200)]
    chosen = [choose(targets, run_id) for run_id in run_ids]
    canary = chosen.count("1.1.0")
    # Binomial(200, 0.1): mean 20, sd ~4.24; four standard deviations either side.
    assert abs(canary - 20) <= 4 * math.sqrt(200 * 0.1 * 0.9)
    assert chosen == [choose(targets, run_id) for run_id in run_ids]


def test_one_target_always_wins_and_zero_weights_never_do() -> None:
    assert {choose([Target("2.0.0")], str(uuid.uuid4())) for _ in range(50)} == {"2.0.0"}
    assert {choose([Target("a", 0), Target("b", 1)], str(uuid.uuid4())) for _ in range(50)} == {"b"}
