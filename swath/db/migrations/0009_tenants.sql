-- Sharing one Swath between tenants: each run's priority, and per-tenant settings an admin may
-- change (the fairness weight of its tasks, caps on its runs queued and in flight).

ALTER TABLE runs ADD COLUMN priority smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5);
-- Metering: pixels through the model, and seconds the run's items spent in the model's batcher
-- (waiting for a batch and in the forward pass), every attempt's.
ALTER TABLE runs ADD COLUMN pixels bigint NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN inference_s double precision NOT NULL DEFAULT 0;
CREATE INDEX runs_by_created ON runs (created_at);
-- The caps count a tenant's unfinished runs.
CREATE INDEX runs_unfinished_by_tenant ON runs (tenant, status) WHERE status IN ('queued', 'processing');

-- A tenant without a row has the defaults: weight 1.0, the caps of the API's settings.
CREATE TABLE tenants (
    tenant          text PRIMARY KEY,
    fairness_weight double precision NOT NULL DEFAULT 1.0 CHECK (fairness_weight BETWEEN 0.001 AND 1000),
    max_queued_runs integer CHECK (max_queued_runs >= 0),   -- NULL: SWATH_TENANT_MAX_QUEUED_RUNS
    max_active_runs integer CHECK (max_active_runs >= 0),   -- NULL: SWATH_TENANT_MAX_ACTIVE_RUNS
    updated_at      timestamptz NOT NULL DEFAULT now()
);
