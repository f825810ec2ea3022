-- Scenes: progress in model windows, each mapped block recorded once, and each scene's map.

ALTER TABLE runs
    ADD COLUMN windows_total bigint NOT NULL DEFAULT 0,
    ADD COLUMN windows_done  bigint NOT NULL DEFAULT 0;

-- One row per block mapped, so a retried block never counts twice.
CREATE TABLE scene_blocks (
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    input_id   text NOT NULL,
    block      integer NOT NULL,
    windows    integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, input_id, block)
);

CREATE TABLE run_maps (
    run_id          uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    input_id        text NOT NULL,
    name            text NOT NULL,
    crs             text NOT NULL,
    width           integer NOT NULL,
    height          integer NOT NULL,
    transform       double precision[] NOT NULL,
    class_stats     jsonb NOT NULL,
    confidence_name text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, input_id)
);
