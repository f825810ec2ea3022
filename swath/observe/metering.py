"""Per-tenant usage as Prometheus counters, in the processes that do the work.

Unlike `swath.observe.metrics`, these are labelled by tenant: tenants are made by admins (one per team
or customer, never per request), so the series stay few. The same quantities are kept per run in
PostgreSQL for `GET /v1/usage` (`swath.db.usage`); these counters are for dashboards and alerts.

- `swath_tenant_runs_total{tenant}`: runs accepted (the API);
- `swath_tenant_windows_total{tenant}`, `swath_tenant_pixels_total{tenant}`: model windows (a tile is
  one) and their pixels through the model (the inference pool);
- `swath_tenant_inference_seconds_total{tenant}`: seconds the tenant's items spent in the model's
  batcher, waiting for a batch and in the forward pass (the inference pool).
"""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["TENANT_INFERENCE_SECONDS", "TENANT_PIXELS", "TENANT_RUNS", "TENANT_WINDOWS", "record_inference"]

#: Counted by the API, which serves it from its app's own registry (`api.app`), so not the default one.
TENANT_RUNS = Counter("swath_tenant_runs", "Runs accepted, by tenant.", ["tenant"], registry=None)
TENANT_WINDOWS = Counter("swath_tenant_windows", "Model windows (tiles count one each) inferred, by tenant.", ["tenant"])
TENANT_PIXELS = Counter("swath_tenant_pixels", "Pixels through the model, by tenant.", ["tenant"])
TENANT_INFERENCE_SECONDS = Counter(
    "swath_tenant_inference_seconds", "Seconds of the tenant's items in the model's batcher, by tenant.", ["tenant"]
)


def record_inference(tenant: str, *, windows: int, pixels: int, seconds: float) -> None:
    """Count one inference step's work for its tenant."""
    TENANT_WINDOWS.labels(tenant).inc(windows)
    TENANT_PIXELS.labels(tenant).inc(pixels)
    TENANT_INFERENCE_SECONDS.labels(tenant).inc(seconds)
