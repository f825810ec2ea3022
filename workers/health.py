"""A pool's own small HTTP port: `/livez`, `/readyz` and `/metrics`, for probes and Prometheus.

It runs in a thread of its own (like `prometheus_client.start_http_server`), so a busy event loop
or a long forward pass never makes a probe time out. `/livez` answers while the process runs;
`/readyz` once the pool's worker polls its task queue (for inference, only after its models
were loaded and warmed up, `workers.pools.inference.warm_up`); `/metrics` is the process's Prometheus registry followed by whatever
`extra_metrics` returns (the Temporal SDK's series, `workers.sdk_metrics`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


class PoolHealth:
    """The pool's readiness, and the server that reports it."""

    def __init__(self, host: str, port: int, *, extra_metrics: Callable[[], bytes] | None = None) -> None:
        self.ready = threading.Event()
        self.extra_metrics = extra_metrics
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if self.path == "/livez":
                    self._answer(200, b"ok\n", "text/plain")
                elif self.path == "/readyz":
                    ready = health.ready.is_set()
                    self._answer(200 if ready else 503, b"ready\n" if ready else b"starting\n", "text/plain")
                elif self.path == "/metrics":
                    self._answer(200, health.metrics_text(), CONTENT_TYPE_LATEST)
                else:
                    self._answer(404, b"not found\n", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # probes every few seconds would drown the pool's log

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="pool-health", daemon=True)

    def metrics_text(self) -> bytes:
        """The Python registry's exposition, then the extra metrics' (distinct names, one text page)."""
        text = generate_latest(REGISTRY)
        if self.extra_metrics is not None:
            extra = self.extra_metrics()
            text += extra if not extra or extra.endswith(b"\n") else extra + b"\n"
        return text

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
