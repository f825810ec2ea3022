"""Every process's metrics during real runs of a `swath up --observe` stack: what each pool and the
API expose, that no label grows with runs or tenants, that the dashboards only ask for series that
exist, and that the stack's Prometheus scrapes them all with Swath's rules loaded."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from swath.embedded.ports import free_port
from swath.embedded.prometheus import find_prometheus
from swath.temporal.queues import TaskQueue
from tests.ops.promql import all_rules, dashboard_exprs, metric_names, recording_rule_names
from tests.utils.runs_helpers import inline, sample_inputs, wait_until_done
from tests.utils.stack import REPO, RunningStack, stack_env, start_stack, stop_stack
from tests.webhooks.receiver import Receiver

#: Labels that would make a series per run, tenant or caller: none may appear on any metric.
FORBIDDEN_LABELS = {
    "run_id", "run", "tenant", "workflow_id", "workflow_run_id", "run_uuid", "url", "uri", "path",
    "key", "key_id", "item_id", "message_id", "endpoint_id", "dead_letter_id", "idempotency_key",
}  # fmt: skip
#: The most distinct values one label may take after the runs below (runs × tenants is 6 here).
MAX_VALUES_PER_LABEL = 40
#: Usage is metered per tenant on purpose (`swath.observe.metering`): tenants are provisioned by
#: admins, never created by a request, so these families alone may carry `tenant`.
METERED_BY_TENANT = "swath_tenant_"
TENANTS = ("dev", "metrics-a", "metrics-b")
RUNS_PER_TENANT = 2


@dataclass(frozen=True)
class Scrape:
    """One process's `/metrics`, parsed: family name → its samples' label sets."""

    text: str
    families: dict[str, list[dict[str, str]]]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        families: dict[str, list[dict[str, str]]] = defaultdict(list)
        for family in text_string_to_metric_families(text):
            families[family.name].extend(sample.labels for sample in family.samples)
        return cls(text, dict(families))

    def sample_names(self) -> set[str]:
        """Every name a PromQL query can select: families and their `_total`/`_bucket`/… series."""
        names = set()
        for family in text_string_to_metric_families(self.text):
            names.add(family.name)
            names.update(sample.name for sample in family.samples)
            if family.type == "counter":
                names.add(f"{family.name}_total")
            if family.type == "histogram":
                names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        return names


def _create_key(stack: RunningStack, tenant: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "swath.cli", "keys", "create", "--tenant", tenant, "--scope", "runs:write",
         "--scope", "runs:read"],
        env=stack.env, cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("key"))


async def _scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    response.raise_for_status()
    return Scrape.parse(response.text)


async def _scrape_until(url: str, *names: str, timeout: float = 60) -> Scrape:
    """Scrape until every name has a sample (counters appear once something happened)."""
    deadline = time.monotonic() + timeout
    while True:
        scrape = await _scrape(url)
        missing = [n for n in names if not scrape.families.get(n)]
        if not missing:
            return scrape
        assert time.monotonic() < deadline, f"{url} still lacks {missing}"
        await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningStack]:
    data_dir = tmp_path_factory.mktemp("observed") / "data"
    args = ("--observe",) if find_prometheus() else ()
    running = await start_stack(data_dir, stack_env(data_dir, prometheus_port=str(free_port())), *args)
    yield running
    if running.proc.returncode is None:
        await stop_stack(running)


@pytest.fixture(scope="module")
async def scrapes(observed: RunningStack) -> dict[str, Scrape]:
    """After several runs of several tenants (a good and a bad item each, one with a webhook), every
    process's metrics: `api` and each pool by task queue name."""
    keys = {"dev": observed.key(), **{t: await asyncio.to_thread(_create_key, observed, t) for t in TENANTS[1:]}}
    async with Receiver() as receiver:
        hook = receiver.path()
        created = []
        for tenant, key in keys.items():
            async with httpx.AsyncClient(
                base_url=observed.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client:
                for n in range(RUNS_PER_TENANT):
                    body = {"model": "crop-classifier", "inputs": [*sample_inputs(3), inline("bad", b"not a tile")]}
                    if tenant == "dev" and n == 0:
                        body["webhook"] = {"url": receiver.url(hook)}
                    response = await client.post("/v1/runs", json=body)
                    assert response.status_code == 202, response.text
                    created.append((key, response.json()["id"]))
        for key, run_id in created:
            async with httpx.AsyncClient(
                base_url=observed.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client:
                assert (await wait_until_done(client, run_id, timeout=180))["status"] == "complete"
        await receiver.wait_for(hook, 1)
    return {
        "api": await _scrape_until(f"{observed.api_url}/metrics", "swath_runs", "swath_webhook_backlog"),
        TaskQueue.ORCHESTRATION.value: await _scrape_until(
            observed.pool_metrics_url("orchestration"), "temporal_workflow_completed", "swath_runs_finished",
            "swath_run_duration_seconds",
        ),
        TaskQueue.BOOKKEEPING.value: await _scrape_until(
            observed.pool_metrics_url("bookkeeping"), "temporal_worker_task_slots_available"
        ),
        TaskQueue.INGEST.value: await _scrape_until(
            observed.pool_metrics_url("ingest"), "swath_ingest_bytes", "swath_ingest_items"
        ),
        TaskQueue.INFERENCE.value: await _scrape_until(
            observed.pool_metrics_url("inference"), "swath_inference_batch_size", "swath_inference_items"
        ),
        TaskQueue.NOTIFY.value: await _scrape_until(
            observed.pool_metrics_url("notify"), "swath_webhook_attempts", "swath_webhook_deliveries"
        ),
    }


async def test_every_pool_serves_the_sdk_series_and_its_own(scrapes: dict[str, Scrape]) -> None:
    for queue in TaskQueue:
        families = scrapes[queue.value].families
        slots = families.get("temporal_worker_task_slots_available", [])
        assert {s["task_queue"] for s in slots} >= {queue.value}, f"{queue}: no SDK task slots"
        assert families.get("temporal_request_latency_seconds"), f"{queue}: no SDK request latency"
    assert scrapes["ingest"].families.get("temporal_activity_execution_latency_seconds")
    assert scrapes["orchestration"].families.get("temporal_workflow_task_schedule_to_start_latency_seconds")

    # Runs are finished (and counted) by the orchestration pool, as a local activity of their workflow.
    finished = scrapes["orchestration"].families["swath_runs_finished"]
    assert {s["model"] for s in finished if s["status"] == "complete"} == {"crop-classifier@1.0.0"}
    durations = scrapes["orchestration"].families["swath_run_duration_seconds"]
    assert {s["size"] for s in durations} == {"le10"}
    items = {s["outcome"] for s in scrapes["orchestration"].families["swath_run_items"]}
    assert items == {"done", "failed"}
    outcomes = {s["outcome"] for s in scrapes["ingest"].families["swath_ingest_items"]}
    assert outcomes == {"staged", "undecodable"}
    assert {s["model"] for s in scrapes["inference"].families["swath_inference_batch_size"]} == {"crop-classifier@1.0.0"}
    assert {s["status"] for s in scrapes["notify"].families["swath_webhook_deliveries"]} == {"delivered"}
    statuses = {s["status"] for s in scrapes["api"].families["swath_runs"]}
    assert statuses == {"queued", "processing", "complete", "failed", "canceled"}


async def test_no_metric_has_a_label_that_grows_with_runs_or_tenants(scrapes: dict[str, Scrape]) -> None:
    for process, scrape in scrapes.items():
        values: dict[tuple[str, str], set[str]] = defaultdict(set)
        for family, samples in scrape.families.items():
            metered = family.startswith(METERED_BY_TENANT)
            forbidden = FORBIDDEN_LABELS - {"tenant"} if metered else FORBIDDEN_LABELS
            for labels in samples:
                assert not forbidden & set(labels), f"{process}: {family} has {forbidden & set(labels)}"
                for name, value in labels.items():
                    values[(family, name)].add(value)
        wide = {k: len(v) for k, v in values.items() if len(v) > MAX_VALUES_PER_LABEL}
        assert not wide, f"{process}: labels with too many values: {wide}"
        for (family, name), seen in values.items():
            if family.startswith(METERED_BY_TENANT):
                continue
            for tenant in TENANTS[1:]:
                assert tenant not in seen, f"{process}: {family}{{{name}}} names tenant {tenant}"


async def test_usage_is_metered_per_tenant(scrapes: dict[str, Scrape]) -> None:
    metered = {labels["tenant"] for labels in scrapes["api"].families["swath_tenant_runs"]}
    assert set(TENANTS) <= metered, metered


async def test_no_gpu_series_on_a_cpu_only_machine(scrapes: dict[str, Scrape]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert not scrapes["inference"].families.get("swath_gpu_memory_allocated_bytes")


async def test_every_dashboard_and_rule_query_names_a_series_that_exists(scrapes: dict[str, Scrape]) -> None:
    exposed = set().union(*(scrape.sample_names() for scrape in scrapes.values()))
    recorded = recording_rule_names()
    rules = [("rules.yml", rule.get("alert") or rule["record"], rule["expr"]) for rule in all_rules()]
    for where, title, expr in [*dashboard_exprs(), *rules]:
        for name in metric_names(expr):
            assert name in exposed or name in recorded, f"{where} / {title}: {name} is not exposed ({expr})"


async def test_the_stacks_prometheus_scrapes_every_process_with_the_rules(observed: RunningStack) -> None:
    if not find_prometheus():
        pytest.skip("Prometheus is not installed (apt-get install prometheus)")
    url = f"http://127.0.0.1:{observed.env['SWATH_PROMETHEUS_PORT']}"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            targets = (await http.get("/api/v1/targets")).json()["data"]["activeTargets"]
            healthy = {t["labels"].get("pool", "api") for t in targets if t["health"] == "up"}
            if healthy == {"api", *(q.value for q in TaskQueue)}:
                break
            assert time.monotonic() < deadline, f"Prometheus targets: {[(t['scrapeUrl'], t['health']) for t in targets]}"
            await asyncio.sleep(1)
        # A pool process's `instance` is its name, so two processes of one pool stay apart.
        assert {t["labels"]["instance"] for t in targets if "pool" in t["labels"]} == {f"pool-{q}" for q in TaskQueue}
        # Every series carries the deployment's `namespace` (the rules group by it): one deployment here.
        query = {"query": "swath:deployments"}
        while not (found := (await http.get("/api/v1/query", params=query)).json()["data"]["result"]):
            assert time.monotonic() < deadline, "swath:deployments was never recorded"
            await asyncio.sleep(1)
        assert [series["metric"] for series in found] == [{"__name__": "swath:deployments", "namespace": "local"}]
        groups = (await http.get("/api/v1/rules")).json()["data"]["groups"]
    alerts = {rule["name"] for group in groups for rule in group["rules"] if rule["type"] == "alerting"}
    assert "SwathBreakerOpen" in alerts
    unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] == "err"]
    assert not unhealthy
