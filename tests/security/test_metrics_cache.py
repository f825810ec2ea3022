"""`/metrics` and `/readyz` are open, so neither may make a caller's request cost database work."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from api.app import create_app
from api.state import api_state
from swath.settings import Settings
from tests.conftest import serve_api
from tests.security.conftest import derived_settings
from tests.utils.polling import eventually

#: How long to wait for the API's background refresh to show up (never an assertion about speed).
SETTLE_S = 30
DEAD_LETTER_FAMILY = "# TYPE swath_runs_dead_lettered_total counter"
WAITING_REFRESH = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM dead_letters%'
"""


async def until(condition, what: str) -> None:
    await eventually(condition, timeout=SETTLE_S, what=what)


async def test_a_stuck_metrics_collection_delays_neither_healthz_nor_metrics(
    settings: Settings, workers: None, db_dsn: str
) -> None:
    api_settings = derived_settings(settings, metrics_refresh_s=0.05)
    async with serve_api(api_settings) as url, httpx.AsyncClient(base_url=url, timeout=SETTLE_S) as http:
        async def scraped() -> bool:
            return DEAD_LETTER_FAMILY in (await http.get("/metrics")).text

        await until(scraped, "the failure metrics never appeared")
        locker = await asyncpg.connect(db_dsn)
        observer = await asyncpg.connect(db_dsn)
        try:
            async with locker.transaction():
                # Every collection now waits on this lock for as long as the test holds it.
                await locker.execute("LOCK TABLE dead_letters IN ACCESS EXCLUSIVE MODE")

                async def refresh_is_stuck() -> bool:
                    return await observer.fetchval(WAITING_REFRESH) >= 1

                await until(refresh_is_stuck, "the API never started a collection in the background")
                healthz, scrape = await asyncio.gather(http.get("/healthz"), http.get("/metrics"))
                # Both answered while the collection is still stuck behind the lock.
                still_stuck = await refresh_is_stuck()
        finally:
            await locker.close()
            await observer.close()
    assert healthz.status_code == 200
    assert scrape.status_code == 200
    assert DEAD_LETTER_FAMILY in scrape.text  # the last snapshot, not nothing
    assert still_stuck


async def test_concurrent_readyz_calls_share_one_probe(settings: Settings, workers: None) -> None:
    api_settings = derived_settings(settings, readyz_cache_s=3600)
    app = create_app(api_settings)
    async with serve_api(api_settings, app) as url, httpx.AsyncClient(base_url=url, timeout=SETTLE_S) as http:
        burst = await asyncio.gather(*(http.get("/readyz") for _ in range(20)))
        later = await http.get("/readyz")
    assert {r.status_code for r in burst} == {200}
    assert later.json() == burst[0].json()
    assert api_state(app).readiness.probes == 1


async def test_readyz_probes_again_once_its_result_is_stale(settings: Settings, workers: None) -> None:
    api_settings = derived_settings(settings, readyz_cache_s=0)
    app = create_app(api_settings)
    async with serve_api(api_settings, app) as url, httpx.AsyncClient(base_url=url, timeout=SETTLE_S) as http:
        for _ in range(3):
            assert (await http.get("/readyz")).status_code == 200
    assert api_state(app).readiness.probes == 3
