-- Runs, their per-item results, lifecycle events and API keys.

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant       text NOT NULL,
    scopes       text[] NOT NULL,
    -- sha256 of the whole key; the key itself is shown once and never stored.
    key_hash     bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE runs (
    id              uuid PRIMARY KEY,
    tenant          text NOT NULL,
    status          text NOT NULL CHECK (status IN ('queued', 'processing', 'complete', 'failed', 'canceled')),
    model_ref       text NOT NULL,   -- as submitted: name, name@version or name@alias
    model_resolved  text NOT NULL,   -- name@version the alias resolved to at submit time
    input           jsonb NOT NULL,  -- the request as submitted, inline data replaced by blob refs
    idempotency_key text,
    request_hash    text NOT NULL,
    items_total     integer NOT NULL,
    items_done      integer NOT NULL DEFAULT 0,
    items_failed    integer NOT NULL DEFAULT 0,
    result_model    jsonb,
    error           jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX runs_by_tenant_created ON runs (tenant, created_at DESC, id DESC);
CREATE INDEX runs_by_tenant_status_created ON runs (tenant, status, created_at DESC, id DESC);

CREATE TABLE run_items (
    run_id        uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    item_id       text NOT NULL,
    position      integer NOT NULL,
    label         text,
    confidence    real,
    model_name    text,
    model_version text,
    model_sha256  text,
    error_code    text,
    error_message text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, item_id)
);

CREATE TABLE run_events (
    run_id     uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    type       text NOT NULL,
    tenant     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, type)
);
