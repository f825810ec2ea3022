"""Prometheus metrics of webhook delivery (in the `notify` pool's process)."""

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter("swath_webhook_attempts", "Delivery attempts, by outcome.", ["outcome"])
DELIVERIES = Counter("swath_webhook_deliveries", "Messages finished, by final status.", ["status"])
LATENCY = Histogram(
    "swath_webhook_attempt_latency_seconds", "Time from sending a webhook to its response.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
ENDPOINTS_DISABLED = Counter("swath_webhook_endpoints_disabled", "Endpoints disabled automatically.", ["reason"])
DEFERRED = Counter(
    "swath_webhook_attempts_deferred", "Attempts put off because their tenant used its deliveries for the minute."
)
