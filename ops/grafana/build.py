"""Swath's Grafana dashboards, generated: `python ops/grafana/build.py` writes the JSON next to it.

The JSON files are checked in (Grafana provisioning and the chart read them); a test regenerates
them and fails when they differ from what is checked in, and checks that every query names a
series some Swath process exposes. Queries aggregate away the instance (`sum`, `max`), so they
read the same on one `swath up` machine and on a cluster of replicas; only the GPU panels keep it,
as each inference process holds its own GPU (and sees it as `cuda:0`). Every series a query
selects is scoped to the dashboard's `namespace` variable (`scoped`): the Kubernetes namespace of
a deployment, as the Prometheus Operator labels its targets (`local` under `swath up --observe`),
so deployments that share one Prometheus are told apart; "All" also matches series without it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Panels per row; every panel is a quarter of Grafana's 24-column grid wide (or half, if `wide`).
COLUMNS = 24
PANEL_HEIGHT = 8
RATE = "5m"
#: The matcher every selected series carries.
NAMESPACE_MATCHER = 'namespace=~"$namespace"'
#: A series a query selects (Swath's, its recording rules', the Temporal SDK's), with its matchers.
_SERIES = re.compile(r"\b((?:swath[_:]|temporal_)[A-Za-z0-9_:]*)(?:\{([^}]*)\})?")
#: The variable's values: the namespaces the API's run gauge is scraped from.
NAMESPACES = "label_values(swath_runs, namespace)"


def scoped(expr: str) -> str:
    """`expr` with `namespace=~"$namespace"` first among the matchers of every series it selects."""
    def scope(match: re.Match) -> str:
        name, matchers = match.group(1), match.group(2)
        return f"{name}{{{NAMESPACE_MATCHER}{', ' + matchers if matchers else ''}}}"

    return _SERIES.sub(scope, expr)


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """A time series (or stat) panel."""

    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    kind: str = "timeseries"
    wide: bool = False
    extra: dict = field(default_factory=dict)


def quantiles(metric: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> tuple[Query, ...]:
    """p50/p95/p99 of a histogram, optionally per label `by`."""
    group = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return tuple(
        Query(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[{RATE}])))", f"p{round(q * 100)}{suffix}")
        for q in qs
    )


def _panel_json(panel: Panel, n: int, x: int, y: int, width: int) -> dict:
    return {
        "id": n,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": PANEL_HEIGHT, "w": width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if panel.kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": scoped(q.expr), "legendFormat": q.legend or "__auto"}
            for i, q in enumerate(panel.queries)
        ],
        **panel.extra,
    }


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> dict:
    """A dashboard with Prometheus data source and namespace variables, panels laid out left to right."""
    laid_out, x, y = [], 0, 0
    for n, panel in enumerate(panels, start=1):
        width = COLUMNS // 2 if panel.wide else COLUMNS // 4
        if x + width > COLUMNS:
            x, y = 0, y + PANEL_HEIGHT
        laid_out.append(_panel_json(panel, n, x, y, width))
        x += width
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["swath"],
        "editable": True,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"},
                {
                    "name": "namespace", "label": "Namespace", "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "definition": NAMESPACES, "query": {"query": NAMESPACES, "refId": "namespaces"},
                    "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2, "sort": 1,
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": laid_out,
    }


def overview() -> dict:
    """Runs end to end: throughput, success, latency, backlog, saturation, failures."""
    return dashboard("swath-overview", "Swath — overview", "Runs end to end, across every pool.", [
        Panel("Runs finished per second", (
            Query(f"sum by (status) (rate(swath_runs_finished_total[{RATE}]))", "{{status}}"),
        ), unit="reqps"),
        Panel("Run success ratio", (
            Query(
                f'sum(rate(swath_runs_finished_total{{status="complete"}}[{RATE}]))'
                f" / sum(rate(swath_runs_finished_total[{RATE}]))", "complete",
            ),
            Query("swath:run_success:ratio_rate1h", "1h"),
        ), unit="percentunit", description="SLO: 99% of runs complete (ops/prometheus/rules.yml)."),
        Panel("Run latency (created → finished)", quantiles("swath_run_duration_seconds"), unit="s",
              description="SLO: 95% of runs finish within 60 s."),
        Panel("Runs waiting and running", (
            Query('max by (status) (swath_runs{status=~"queued|processing"})', "{{status}}"),
        ), description="From PostgreSQL, refreshed by the API every SWATH_METRICS_REFRESH_S."),
        Panel("Backlog: activity schedule-to-start p95 per task queue", (
            Query(
                "histogram_quantile(0.95, sum by (le, task_queue) "
                f"(rate(temporal_activity_schedule_to_start_latency_seconds_bucket[{RATE}])))", "{{task_queue}}",
            ),
        ), unit="s", wide=True, description="How long activity tasks wait for a free slot: the pool is short of workers."),
        Panel("Backlog: workflow task schedule-to-start p95", (
            Query(
                "histogram_quantile(0.95, sum by (le, task_queue) "
                f"(rate(temporal_workflow_task_schedule_to_start_latency_seconds_bucket[{RATE}])))", "{{task_queue}}",
            ),
        ), unit="s", wide=True),
        Panel("Pool saturation (task slots used)", (
            Query(
                "sum by (task_queue, worker_type) (temporal_worker_task_slots_used) / "
                "(sum by (task_queue, worker_type) (temporal_worker_task_slots_used) "
                "+ sum by (task_queue, worker_type) (temporal_worker_task_slots_available))",
                "{{task_queue}} {{worker_type}}",
            ),
        ), unit="percentunit", wide=True),
        Panel("Pollers per task queue", (
            Query("sum by (task_queue, poller_type) (temporal_num_pollers)", "{{task_queue}} {{poller_type}}"),
        ), wide=True, description="Zero for a queue means no pool is polling it (alert SwathTaskQueueNotPolled)."),
        Panel("Dead letters (1h)", (
            Query("sum by (error_code) (increase(swath_dead_letters_total[1h]))", "{{error_code}}"),
        )),
        Panel("Breaker state (0 closed, 1 half-open, 2 open)", (
            Query("max by (model) (swath_breaker_state)", "{{model}}"),
        )),
        Panel("Items of finished runs per second", (
            Query(f"sum by (outcome) (rate(swath_run_items_total[{RATE}]))", "{{outcome}}"),
        ), unit="reqps"),
        Panel("Ingest throughput", (
            Query(f"sum(rate(swath_ingest_bytes_total[{RATE}]))", "bytes/s"),
        ), unit="Bps"),
    ])


def inference() -> dict:
    """The inference pool: its dynamic batcher, the model, the GPUs."""
    return dashboard("swath-inference", "Swath — inference", "The dynamic batcher, forward passes and GPUs.", [
        Panel("Batch size", quantiles("swath_inference_batch_size", "model", (0.5, 0.95)), wide=True,
              description="Items per forward pass; near max_batch_size means the batcher fills batches."),
        Panel("Mean batch size", (
            Query(
                f"sum by (model) (rate(swath_inference_batch_size_sum[{RATE}]))"
                f" / sum by (model) (rate(swath_inference_batch_size_count[{RATE}]))", "{{model}}",
            ),
        ), wide=True),
        Panel("Queue wait (item → its batch)", quantiles("swath_inference_queue_wait_seconds", "model", (0.5, 0.95)),
              unit="s", wide=True),
        Panel("Forward pass", quantiles("swath_inference_forward_seconds", "model", (0.5, 0.95)), unit="s", wide=True),
        Panel("Items per second", (
            Query(f"sum by (model) (rate(swath_inference_items_total[{RATE}]))", "{{model}}"),
        ), unit="reqps", wide=True, description="Also shows which model versions serve traffic."),
        Panel("Item failures per model version", (
            Query(f"sum by (model) (rate(swath_inference_item_failures_total[{RATE}]))", "{{model}}"),
        ), unit="reqps", wide=True, description="Items whose forward pass failed: compare a canary with stable."),
        Panel("Class shares per model version", (
            Query(
                f"sum by (model, label) (rate(swath_inference_class_predictions_total[{RATE}]))"
                f" / ignoring(label) group_left sum by (model) (rate(swath_inference_class_predictions_total[{RATE}]))",
                "{{model}} {{label}}",
            ),
        ), unit="percentunit", wide=True,
            description="Share of each class in what a version predicts (tiles, or pixels of windows): a canary "
                        "whose shares differ from stable's on the same traffic predicts differently."),
        Panel("Runs finished per model version (1h)", (
            Query("sum by (model, status) (increase(swath_runs_finished_total[1h]))", "{{model}} {{status}}"),
        ), wide=True),
        Panel("GPU memory", (
            Query("max by (instance, device) (swath_gpu_memory_allocated_bytes)", "allocated {{instance}} {{device}}"),
            Query("max by (instance, device) (swath_gpu_memory_reserved_bytes)", "reserved {{instance}} {{device}}"),
        ), unit="bytes", wide=True, description="Per inference process (each sees its one GPU as cuda:0); "
                                                 "absent on CPU-only pools."),
        Panel("GPU utilisation", (
            Query("max by (instance, device) (swath_gpu_utilization_ratio)", "{{instance}} {{device}}"),
        ), unit="percentunit", wide=True, description="Per inference process and its GPU."),
        Panel("Inference task slots used", (
            Query('sum(temporal_worker_task_slots_used{task_queue="inference", worker_type="ActivityWorker"})', "used"),
            Query(
                'sum(temporal_worker_task_slots_available{task_queue="inference", worker_type="ActivityWorker"})',
                "available",
            ),
        ), wide=True),
        Panel("Breaker state (0 closed, 1 half-open, 2 open)", (
            Query("max by (model) (swath_breaker_state)", "{{model}}"),
        ), wide=True),
    ])


def webhooks() -> dict:
    """The notify pool: deliveries, attempts, latency, disabled endpoints, backlog."""
    return dashboard("swath-webhooks", "Swath — webhooks", "Webhook delivery on the notify pool.", [
        Panel("Messages finished per second", (
            Query(f"sum by (status) (rate(swath_webhook_deliveries_total[{RATE}]))", "{{status}}"),
        ), unit="reqps", wide=True),
        Panel("Delivery success ratio", (
            Query(
                f'sum(rate(swath_webhook_deliveries_total{{status="delivered"}}[{RATE}]))'
                f" / sum(rate(swath_webhook_deliveries_total[{RATE}]))", "delivered",
            ),
            Query("swath:webhook_success:ratio_rate1h", "1h"),
        ), unit="percentunit", wide=True, description="SLO: 99% of messages delivered."),
        Panel("Attempts per second by outcome", (
            Query(f"sum by (outcome) (rate(swath_webhook_attempts_total[{RATE}]))", "{{outcome}}"),
        ), unit="reqps", wide=True),
        Panel("Attempt latency", quantiles("swath_webhook_attempt_latency_seconds"), unit="s", wide=True),
        Panel("Endpoints disabled (1h)", (
            Query("sum by (reason) (increase(swath_webhook_endpoints_disabled_total[1h]))", "{{reason}}"),
        ), wide=True),
        Panel("Attempts deferred by the tenant rate cap", (
            Query(f"sum(rate(swath_webhook_attempts_deferred_total[{RATE}]))", "deferred"),
        ), unit="reqps", wide=True),
        Panel("Backlog (messages pending)", (Query("max(swath_webhook_backlog)", "pending"),), wide=True),
        Panel("Notify queue schedule-to-start p95", (
            Query(
                "histogram_quantile(0.95, sum by (le) (rate("
                f'temporal_activity_schedule_to_start_latency_seconds_bucket{{task_queue="notify"}}[{RATE}])))',
                "p95",
            ),
        ), unit="s", wide=True),
    ])


DASHBOARDS = {"overview.json": overview, "inference.json": inference, "webhooks.json": webhooks}


def render(build) -> str:
    """One dashboard as the JSON text that is checked in."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(out: Path = HERE) -> None:
    """Write every dashboard into `out`."""
    for name, build in DASHBOARDS.items():
        (out / name).write_text(render(build))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
