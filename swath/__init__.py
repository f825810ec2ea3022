"""Swath: durable GPU analysis runs on Temporal.

What every role shares lives here, in wings by role, each importing only the wings below it
(`tests/test_layering.py` holds the order):

- `domain`: contracts, vocabularies, errors, the run view, redaction, workflow ids, principals;
- `settings`: every process's settings, from `SWATH_*` environment variables;
- `observe` (logs, metrics, traces), `outbound` (SSRF guard, pinned HTTP), `db` (PostgreSQL),
  `blobstore` (blobs and their lifecycle);
- `auth` (JWTs, start-up checks on secrets) and `models` (registry, breaker, batcher, serving:
  the only torch importers with the lab);
- `imagery`: tiles, TIFF and scene reading, staging, COG writing;
- `temporal` (queues, the activity catalog, connecting) and then `webhooks`;
- `embedded`: the one-machine stack and the layout of the pools' processes;
- `lab`: synthetic data, training, samples and the demo, never imported by a pool;
- `cli`: the `swath` command, on top.
"""
