"""The Temporal SDK's own metrics for a pool's `/metrics`: task slots, poll and schedule-to-start
latency, activity and workflow task execution latency, sticky cache…

The SDK's core (Rust) exports Prometheus text only on an address of its own. A pool binds it to a
free loopback port that nothing outside the process is told about, and its `/metrics` fetches that
page and appends it to the Python registry's, so one port per pool carries everything.
"""

from __future__ import annotations

import logging
import urllib.request

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from swath.embedded.ports import ephemeral_port

log = logging.getLogger(__name__)

#: A scrape waits this long for the SDK's page, then serves the Python metrics alone.
FETCH_TIMEOUT_S = 2.0


class SdkMetrics:
    """A Temporal runtime exporting to loopback, and the reader of what it exports."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        # The exporter cannot report a port it picked itself, so the kernel picks a free one from
        # its ephemeral range here (never one a configured server is about to bind); should
        # another process take it first, the runtime fails to start and the pool is restarted.
        self.address = f"{host}:{port or ephemeral_port(host)}"
        self.runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=self.address,
                    # Prometheus conventions: counters end in `_total`, durations are in seconds.
                    counters_total_suffix=True,
                    durations_as_seconds=True,
                    unit_suffix=True,
                )
            )
        )

    def text(self) -> bytes:
        """The SDK's metrics in Prometheus text format; empty (and logged) when they cannot be read."""
        try:
            with urllib.request.urlopen(f"http://{self.address}/metrics", timeout=FETCH_TIMEOUT_S) as response:
                return response.read()
        except OSError as err:
            log.warning("Temporal SDK metrics unavailable at %s: %s", self.address, err)
            return b""
