-- Webhooks: per-run webhook config, signing secrets, endpoints, messages and attempts.

ALTER TABLE runs ADD COLUMN webhook jsonb;  -- {"url", "events"} as submitted, or NULL

CREATE TABLE webhook_tenant_secrets (
    tenant     text PRIMARY KEY,
    secret     text NOT NULL,  -- whsec_…: signs the tenant's per-run webhooks
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY,
    tenant                     text NOT NULL,
    url                        text NOT NULL,
    events                     text[] NOT NULL,
    description                text NOT NULL DEFAULT '',
    enabled                    boolean NOT NULL DEFAULT true,
    secret                     text NOT NULL,
    -- After a rotation the old secret signs too, until it expires.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    -- Set by the first failure after a success; disabling follows a long enough streak.
    failing_since              timestamptz,
    disabled_reason            text,
    disabled_at                timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant, created_at);

CREATE TABLE webhook_messages (
    id           text PRIMARY KEY,  -- msg_…, the webhook-id of every attempt
    tenant       text NOT NULL,
    run_id       uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    event_type   text NOT NULL,
    destination  text NOT NULL,     -- 'run' (the run's own webhook) or the endpoint id
    endpoint_id  uuid REFERENCES webhook_endpoints (id) ON DELETE SET NULL,
    url          text NOT NULL,
    body         text NOT NULL,     -- exactly what is signed and sent
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (run_id, event_type, destination)
);
CREATE INDEX webhook_messages_by_tenant ON webhook_messages (tenant, created_at DESC, id DESC);
CREATE INDEX webhook_messages_by_endpoint ON webhook_messages (endpoint_id, status, created_at);

CREATE TABLE webhook_attempts (
    message_id       text NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    execution        text NOT NULL,  -- the delivery workflow run: a resend starts a new one
    attempt          integer NOT NULL,
    started_at       timestamptz NOT NULL,
    status_code      integer,
    latency_ms       integer NOT NULL,
    outcome          text NOT NULL,
    error            text,
    response_excerpt text,
    PRIMARY KEY (message_id, execution, attempt)
);
