-- Run outputs: one row per blob a run wrote as a result (a map per scene, statistics), served by
-- GET /v1/runs/{id}/outputs/{name}.

CREATE TABLE run_outputs (
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        text NOT NULL,
    ref         text NOT NULL,   -- blob://tenants/<t>/outputs/<run_id>/...
    size        bigint NOT NULL,
    sha256      text NOT NULL,
    media_type  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, name)
);
