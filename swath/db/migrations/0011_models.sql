-- The model registry as a service: models, their versions (artefacts in the blob store), aliases
-- (one target or weighted targets for a canary) and every move of an alias.

CREATE TABLE models (
    name        text PRIMARY KEY,
    -- The tenant that registered it; a `private` model is invisible to every other tenant.
    owner       text NOT NULL,
    visibility  text NOT NULL CHECK (visibility IN ('private', 'shared')),
    task        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_versions (
    model      text NOT NULL REFERENCES models (name) ON DELETE CASCADE,
    version    text NOT NULL,
    -- `validating` until the inference pool has checked it; only `ready` versions are ever served.
    status     text NOT NULL CHECK (status IN ('validating', 'ready', 'rejected')),
    reason     text,
    format     text NOT NULL,
    sha256     text NOT NULL,
    -- The full manifest as the pools read it (name, version, weights file name, created_at added).
    manifest   jsonb NOT NULL,
    -- Where the uploaded artefact was (validation reads it there) and where the accepted one lies.
    source_key   text,
    artefact_key text,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version)
);

CREATE TABLE model_aliases (
    model      text NOT NULL REFERENCES models (name) ON DELETE CASCADE,
    alias      text NOT NULL,
    -- [{"version": "1.0.0", "weight": 90}, ...]: weights are relative; one target has weight 100.
    targets    jsonb NOT NULL,
    -- The alias's ETag: bumped on every move, checked against `If-Match`.
    revision   integer NOT NULL DEFAULT 1,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, alias)
);

CREATE TABLE model_alias_history (
    id           bigserial PRIMARY KEY,
    model        text NOT NULL,
    alias        text NOT NULL,
    from_targets jsonb,
    to_targets   jsonb NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL DEFAULT 'set',
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_alias_history_by_alias ON model_alias_history (model, alias, id);
