-- Webhook limits: one endpoint per destination and tenant, a rotatable default secret, and a
-- per-tenant delivery budget shared by every notify replica.

-- The destination as compared for duplicates (scheme and host lower-cased, default port and
-- fragment dropped); existing rows start from their URL as stored.
ALTER TABLE webhook_endpoints ADD COLUMN url_key text;
UPDATE webhook_endpoints SET url_key = url;
ALTER TABLE webhook_endpoints ALTER COLUMN url_key SET NOT NULL;
-- Duplicates registered before this limit would block the unique index; the oldest endpoint of
-- each destination keeps delivering, the later copies only multiplied every event.
DELETE FROM webhook_endpoints e USING webhook_endpoints older
WHERE e.tenant = older.tenant AND e.url_key = older.url_key
  AND (older.created_at, older.id) < (e.created_at, e.id);
CREATE UNIQUE INDEX webhook_endpoints_unique_destination ON webhook_endpoints (tenant, url_key);

-- After a rotation the tenant's old default secret signs too, until it expires.
ALTER TABLE webhook_tenant_secrets ADD COLUMN previous_secret text;
ALTER TABLE webhook_tenant_secrets ADD COLUMN previous_secret_expires_at timestamptz;

-- Deliveries attempted per tenant in the current minute (one row per tenant, reset each minute).
CREATE TABLE webhook_tenant_budget (
    tenant       text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    used         integer NOT NULL
);
