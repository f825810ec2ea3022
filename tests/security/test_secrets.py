"""Secrets hygiene: no API key, token, JWT or webhook secret in the logs of a full run, nor in Temporal payloads.

Every component of the session stack runs in this process (API servers, workers, clients), so
capturing every logger at DEBUG captures all of their logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest
from temporalio.testing import WorkflowEnvironment

from swath.domain.workflow_ids import delivery_workflow_id
from swath.settings import Settings
from tests.utils.runs_helpers import history_text, sample_inputs, wait_until_done
from tests.security.conftest import (
    JWT_AUDIENCE,
    JWT_ISSUER,
    JWT_SECRET,
    SecureApi,
    bearer,
    unique_tenant,
)
from tests.webhooks.receiver import Receiver

#: uvicorn's own loggers do not propagate to the root logger.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    """A loopback webhook receiver, started before `all_logs`: uvicorn resets its loggers when it starts."""
    async with Receiver() as running:
        yield running


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of this process at DEBUG, uvicorn's access log included."""
    caplog.set_level(logging.DEBUG)
    for name in UVICORN_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
        logging.getLogger(name).addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for name in UVICORN_LOGGERS:
            logging.getLogger(name).removeHandler(caplog.handler)


async def test_no_secret_reaches_logs_errors_or_temporal(
    receiver: Receiver,
    all_logs: pytest.LogCaptureFixture,
    api_url: str,
    admin: httpx.AsyncClient,
    secure_api: SecureApi,
    temporal_env: WorkflowEnvironment,
) -> None:
    tenant = unique_tenant()
    created = (await admin.post("/v1/keys", json={"tenant": tenant, "scopes": ["runs:read", "runs:write"]})).json()
    key = created["key"]
    now = int(time.time())
    token = jwt.encode(
        {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "hygiene", "iat": now, "exp": now + 60, "jti": "hygiene-1",
         "tenant": tenant,
         "scope": "runs:read"},
        JWT_SECRET, algorithm="HS256",
    )
    expired = jwt.encode({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": "x", "exp": now - 600, "tenant": tenant},
                         JWT_SECRET, algorithm="HS256")
    near_miss = key[:-1] + ("A" if key[-1] != "A" else "B")
    answers: list[httpx.Response] = []

    async with httpx.AsyncClient(base_url=api_url, headers=bearer(key), timeout=30) as user:
        hook = receiver.path()
        endpoint = (await user.post("/v1/webhook-endpoints", json={"url": receiver.url(hook)})).json()
        response = await user.post("/v1/runs", json={"model": "crop-classifier", "inputs": sample_inputs(2)})
        run = await wait_until_done(user, response.json()["id"])
        await receiver.wait_for(hook, 1)
        answers += [response, await user.post("/v1/runs", content=b"{broken")]
        answers.append(await user.get("/v1/runs", headers=bearer(near_miss)))
        deliveries = (await user.get("/v1/webhook-deliveries", params={"run_id": run["id"]})).json()["items"]
    async with httpx.AsyncClient(base_url=secure_api.url, timeout=30) as http:
        for credential in (token, expired, key, near_miss):
            answers.append(await http.get(f"/v1/runs/{run['id']}", headers=bearer(credential)))
    await admin.delete(f"/v1/keys/{created['id']}")
    async with httpx.AsyncClient(base_url=api_url, headers=bearer(key)) as revoked:
        answers.append(await revoked.get("/v1/runs"))

    assert run["status"] == "complete"
    assert [a.status_code for a in answers[-6:]] == [401, 200, 401, 200, 401, 401]
    assert deliveries, "the run's webhook was not recorded"
    places = {"logs": all_logs.text, "responses": "".join(a.text for a in answers)}
    for workflow_id in [f"run-{run['id']}"] + [delivery_workflow_id(d["id"]) for d in deliveries]:
        places[f"history of {workflow_id}"] = await history_text(temporal_env.client, workflow_id)
    assert f'"tenant":"{tenant}"' in places[f"history of run-{run['id']}"], "payloads were not decoded"
    assert "GET /v1/runs" in all_logs.text, "the access log was not captured"
    secrets = {"API key": key, "API key secret": key.split("_", 2)[2], "near miss": near_miss,
               "JWT": token, "expired JWT": expired, "JWT secret": JWT_SECRET,
               "webhook secret": endpoint["secret"].removeprefix("whsec_")}
    for place, text in places.items():
        for name, secret in secrets.items():
            assert secret not in text, f"the {name} appears in the {place}"


def test_settings_never_show_their_secrets() -> None:
    shown = repr(Settings(_env_file=None, database_url="postgresql://swath:hunter2@db/swath", jwt_secret=JWT_SECRET))
    assert "hunter2" not in shown and JWT_SECRET not in shown
