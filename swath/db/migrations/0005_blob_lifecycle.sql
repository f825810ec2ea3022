-- Blob lifecycle: when a run's staged tensors and its inputs and outputs were purged, and a log of
-- every purge (what prefix, how many blobs, why).

ALTER TABLE runs ADD COLUMN staged_purged_at timestamptz;
ALTER TABLE runs ADD COLUMN outputs_purged_at timestamptz;

CREATE TABLE blob_purges (
    id         bigserial PRIMARY KEY,
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tenant     text NOT NULL,
    reason     text NOT NULL CHECK (reason IN ('staged', 'retention')),
    prefix     text NOT NULL,
    blobs      integer NOT NULL,
    purged_at  timestamptz NOT NULL
);
CREATE INDEX blob_purges_by_run ON blob_purges (run_id);
-- Ended runs still holding staged tensors, and ended runs still holding inputs, found without a scan.
CREATE INDEX runs_staged_to_purge ON runs (finished_at) WHERE staged_purged_at IS NULL AND finished_at IS NOT NULL;
CREATE INDEX runs_outputs_to_purge ON runs (finished_at) WHERE outputs_purged_at IS NULL AND finished_at IS NOT NULL;
