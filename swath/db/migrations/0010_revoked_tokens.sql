-- JWTs revoked by their `jti` before they expire; the API refuses a token whose id is here.
-- A row outlives its token: once SWATH_JWT_MAX_AGE_S has passed since `revoked_at`, every token
-- with that id is refused for its age anyway, and the row may be deleted.
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti        text PRIMARY KEY CHECK (length(jti) BETWEEN 1 AND 255),
    revoked_at timestamptz NOT NULL DEFAULT now()
);
