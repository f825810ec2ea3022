"""A pool process has one Temporal client, the one its worker polls through: the pools' activities
that start or signal workflows use it, so the namespace and its search attributes are checked once
per process, at connect, and never again by a pool's build."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from temporalio.client import Client

import swath.temporal.client as temporal_client
from swath.settings import Settings
from swath.temporal.client import connect_temporal
from swath.temporal.queues import TaskQueue
from workers.pools import load_pool


async def test_every_pool_builds_on_the_one_client_it_is_given(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real_check = temporal_client.ensure_ready

    async def counted(client: Client) -> None:
        checks.append(client.namespace)
        await real_check(client)

    monkeypatch.setattr(temporal_client, "ensure_ready", counted)
    client = await connect_temporal(settings)
    assert checks == [settings.temporal_namespace]

    holders = 0
    async with AsyncExitStack() as stack:
        for queue in TaskQueue:
            for obj in await load_pool(queue).build_activities(settings, stack, client):
                if hasattr(obj, "temporal"):
                    assert obj.temporal is client, f"{queue.value}: {type(obj).__name__} has a client of its own"
                    holders += 1
    assert checks == [settings.temporal_namespace], "a pool's build connected (and checked) again"
    assert holders >= 2, "bookkeeping and notify hold a Temporal client"
