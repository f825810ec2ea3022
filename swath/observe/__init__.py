"""Observing Swath: `logs` (one format, secrets redacted, run context), `metrics` (Swath's own
Prometheus series) and `tracing` (one OpenTelemetry trace per run). This package imports none of
its modules; import the one you need."""
