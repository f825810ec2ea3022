"""Schemathesis against the live OpenAPI schema of the session API: no 5xx, every answer as documented.

The API serves from this process's event loop, so the (synchronous) fuzzing runs in a thread.
Examples per operation are few, to keep the suite fast; every operation is covered.
"""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import make_key
from tests.security.conftest import bearer

EXAMPLES_PER_OPERATION = 8
#: Schema-valid is not always acceptable: an unknown model or a foreign blob is a documented 422.
EXCLUDED_CHECKS = [positive_data_acceptance]


def fuzz(base_url: str, headers: dict[str, str]) -> tuple[list[str], int]:
    """Run every operation's examples with all default checks; returns the failures and the cases run."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    count = 0
    for result, mode in itertools.product(schema.get_all_operations(), GenerationMode):
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not (operation.path_parameters or operation.query or operation.body):
            continue  # nothing to get wrong

        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
            phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            nonlocal count
            count += 1
            case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=EXCLUDED_CHECKS, timeout=30)

        try:
            check()
        except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - any failure of the check is a finding
            failures.append(f"{operation.label} ({mode.value} data): {failure}")
    return failures, count


async def test_the_schema_holds_under_fuzzing(api_url: str, db: asyncpg.Pool) -> None:
    key = await make_key(db, "fuzz", ["admin"])
    failures, count = await asyncio.to_thread(fuzz, api_url, bearer(key))
    assert not failures, "\n\n".join(failures)
    assert count >= 5 * EXAMPLES_PER_OPERATION
