-- Failure semantics: fallback bookkeeping, dead letters, the shared inference breaker.

-- Which model served each item, and whether it was the declared fallback.
ALTER TABLE run_items ADD COLUMN fallback_used boolean NOT NULL DEFAULT false;

-- A redriven run points at the run whose dead letter it replays.
ALTER TABLE runs ADD COLUMN redrive_of uuid REFERENCES runs (id) ON DELETE SET NULL;

-- Runs that exhausted their retries, with everything needed to redrive them.
CREATE TABLE dead_letters (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id          uuid NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
    tenant          text NOT NULL,
    request         jsonb NOT NULL,  -- the workflow input: resolved model, input refs, params, deadline
    failed_step     text NOT NULL,   -- ingest, inference, …
    error_code      text NOT NULL,
    error_message   text NOT NULL,
    attempts        integer NOT NULL,
    run_created_at  timestamptz NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now(),
    redriven_run_id uuid REFERENCES runs (id) ON DELETE SET NULL,
    redriven_at     timestamptz
);
CREATE INDEX dead_letters_by_tenant_failed ON dead_letters (tenant, failed_at DESC, id DESC);

-- The inference circuit breaker, one row per model version, shared by every process.
CREATE TABLE inference_breakers (
    model      text PRIMARY KEY,  -- name@version
    state      text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- Recent inference attempts (the breaker's rolling window); pruned as new ones arrive.
CREATE TABLE inference_outcomes (
    id    bigserial PRIMARY KEY,
    model text NOT NULL,
    ok    boolean NOT NULL,
    at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inference_outcomes_by_model ON inference_outcomes (model, id DESC);
