"""Schemathesis against the live OpenAPI schema: no 5xx, every answer as documented.

The quick run takes a few derandomized examples per operation on the session API, in this
process (the API serves from this event loop, so the synchronous fuzzing runs in a thread). The
deep run (slow) is what an attacker runs: the schemathesis CLI with every check, 100 examples per
operation and every phase, the stateful one following the schema's links (create → use the id →
delete → use it again), against an API whose rate limits are off.

Every URL a generated body carries goes to a loopback address (`tests.security.fuzz_hooks`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from pathlib import Path

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from swath.settings import Settings
from tests.conftest import make_key, serve_api
from tests.security.conftest import bearer, derived_settings
from tests.security.fuzz_hooks import loopback_urls

#: The fuzzers act as platform admins: they list every key and may revoke any of them, the keys other
#: tests hold included. So they run after everything else.
pytestmark = pytest.mark.runs_last

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 8
DEEP_EXAMPLES_PER_OPERATION = 100
#: Schema-valid is not always acceptable: an unknown model or a foreign blob is a documented 422.
EXCLUDED_CHECKS = [positive_data_acceptance]
#: The key is sent on every request, so generating (or leaving out) the security header would only
#: produce cases that are not what they claim; query parameters the schema does not name are
#: ignored by the API, as HTTP APIs do, so adding some makes no negative case either.
GENERATION = {"with_security_parameters": False, "allow_extra_parameters": False}
#: Where schema-valid input can still be refused by what the server holds, `positive_data_acceptance`
#: takes the documented 422 too: a run names a model the registry may not have (or another
#: tenant's blob), and only cursors the server issued are cursors; a model version names an upload
#: the tenant may not have and a manifest its JSON Schema (published apart) must admit; an alias
#: names ready versions, and an `If-Match` the server did not issue fails its precondition (412).
#: Every other operation must accept whatever its schema admits.
STATE_DEPENDENT_OPERATIONS = (
    "POST /v1/runs", "GET /v1/runs", "GET /v1/dead-letters", "POST /v1/models/{name}/versions",
)
PRECONDITIONED_OPERATIONS = ("PUT /v1/models/{name}/aliases/{alias}", "POST /v1/models/{name}/aliases/{alias}/rollback")
#: The stateful phase follows the schema's own links only: links schemathesis infers from list
#: answers hand on ids that may be `null` (a per-run delivery has no endpoint), as the path `None`.
DEEP_CONFIG = """
[generation]
allow-extra-parameters = false
with-security-parameters = false

[phases.stateful.inference]
algorithms = []
""" + "".join(
    f"""
[[operations]]
include-name = "{name}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""
    for name in STATE_DEPENDENT_OPERATIONS
) + "".join(
    f"""
[[operations]]
include-name = "{name}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "412", "422"]
"""
    for name in PRECONDITIONED_OPERATIONS
)


def fuzz(base_url: str, headers: dict[str, str]) -> tuple[list[str], int]:
    """Run every operation's examples with all default checks; returns the failures and the cases run."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.generation.update(**GENERATION)
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
            if isinstance(case.body, dict | list | str):
                case.body = loopback_urls(case.body)
            case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=EXCLUDED_CHECKS, timeout=30)

        try:
            check()
        except (Exception, BaseExceptionGroup) as failure:  # noqa: BLE001 - any failure of the check is a finding
            failures.append(f"{operation.label} ({mode.value} data): {failure}")
    return failures, count


def test_generated_urls_are_sent_to_loopback_only() -> None:
    body = {"url": "https://user:pw@evil.example:8443/h?q=1", "inputs": [{"uri": "http://a/x"}], "n": "0"}
    assert loopback_urls(body) == {
        "url": "https://127.0.0.2:8443/h?q=1", "inputs": [{"uri": "http://127.0.0.2/x"}], "n": "0"
    }


async def test_the_schema_holds_under_fuzzing(api_url: str, db: asyncpg.Pool) -> None:
    key = await make_key(db, "fuzz", ["admin"])
    failures, count = await asyncio.to_thread(fuzz, api_url, bearer(key))
    assert not failures, "\n\n".join(failures)
    assert count >= 5 * EXAMPLES_PER_OPERATION


@pytest.mark.slow
async def test_the_schema_holds_under_deep_and_stateful_fuzzing(
    settings: Settings, workers: None, db: asyncpg.Pool, tmp_path: Path
) -> None:
    key = await make_key(db, "fuzz-deep", ["admin"])
    config = tmp_path / "schemathesis.toml"
    config.write_text(DEEP_CONFIG)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.security.fuzz_hooks", "PYTHONPATH": str(REPO)}
    async with serve_api(derived_settings(settings, rate_limit_enabled=False)) as url:
        cli = await asyncio.create_subprocess_exec(
            Path(sys.executable).with_name("st"), "--config-file", str(config), "--no-color", "run",
            f"{url}/openapi.json", "--checks", "all", "--max-examples", str(DEEP_EXAMPLES_PER_OPERATION),
            "--phases", "examples,coverage,fuzzing,stateful", "--seed", "9", "--continue-on-failure",
            "--request-timeout", "30", "-H", f"Authorization: Bearer {key}",
            cwd=tmp_path, env=env,  # its cache of findings stays in the test's own directory
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await cli.communicate()
    report = output.decode(errors="replace")
    assert cli.returncode == 0, report
    assert "Stateful" in report or "stateful" in report, report
