"""Start-up checks on security settings: an API never serves with incomplete or default secrets.

Incomplete JWT settings are refused in every mode; in production (`SWATH_MODE=production`, the
default) also weak or missing secrets, an embedded or trust-authenticated database, and loopback
URLs allowed without an explicit allowlist. Messages name settings, never values.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import parse_qsl, urlsplit

from limits import parse_many

from swath.domain.errors import InsecureSettingsError
from swath.settings import Mode, Settings

log = logging.getLogger(__name__)

#: The shortest HS256 secret accepted in production (RFC 7518 §3.2: at least the hash size).
MIN_SECRET_BYTES = 32
#: DSN parameters and environment variables through which libpq gets a secret to log in with.
_CREDENTIAL_PARAMS = {"password", "passfile", "sslcert"}
_CREDENTIAL_ENV = ("PGPASSWORD", "PGPASSFILE")
_PLACEHOLDERS = {"secret", "changeme", "change-me", "changeit", "password", "dev", "test", "swath", "jwt-secret"}


def configuration_errors(settings: Settings) -> list[str]:
    """Problems that make the security settings unusable, whatever the mode."""
    errors: list[str] = []
    alg = settings.jwt_algorithm
    if alg is not None:
        if not settings.jwt_issuer or not settings.jwt_audience:
            errors.append("JWT needs SWATH_JWT_ISSUER and SWATH_JWT_AUDIENCE")
        if alg == "HS256" and not settings.jwt_secret:
            errors.append("HS256 needs SWATH_JWT_SECRET")
        if alg != "HS256" and (settings.jwt_public_key_file is None) == (settings.jwt_jwks_file is None):
            errors.append(f"{alg} needs exactly one of SWATH_JWT_PUBLIC_KEY_FILE or SWATH_JWT_JWKS_FILE")
    for name in ("rate_limit_per_key", "rate_limit_per_tenant", "auth_failure_limit"):
        try:
            parse_many(getattr(settings, name))
        except ValueError:
            errors.append(f"SWATH_{name.upper()} is not in `limits` notation (e.g. `50/second;3000/minute`)")
    return errors


def weak_secrets(settings: Settings) -> list[str]:
    """Secrets that are set but guessable: refused in production, a warning in dev mode."""
    errors: list[str] = []
    if settings.jwt_algorithm == "HS256" and settings.jwt_secret:
        secret = settings.jwt_secret.get_secret_value()
        if len(secret.encode()) < MIN_SECRET_BYTES or secret.strip().lower() in _PLACEHOLDERS:
            errors.append(f"SWATH_JWT_SECRET must be a random value of at least {MIN_SECRET_BYTES} bytes")
    return errors


def dev_defaults(settings: Settings) -> list[str]:
    """Dev-mode defaults that have no place in production."""
    errors: list[str] = []
    if not settings.database_url:
        errors.append("SWATH_DATABASE_URL is unset: production needs a PostgreSQL with its own credentials")
    elif not _has_credentials(settings.database_url):
        errors.append(
            "SWATH_DATABASE_URL carries no credentials (no password, passfile or client certificate, and no"
            " PGPASSWORD/PGPASSFILE): production refuses a trust-authenticated database"
        )
    if not settings.url_allowlist:
        if settings.loopback_allowed:
            errors.append("SWATH_ALLOW_LOOPBACK_URLS is on without SWATH_URL_ALLOWLIST naming what may be reached")
        if settings.webhook_loopback_allowed:
            errors.append("SWATH_WEBHOOK_ALLOW_LOOPBACK is on without SWATH_URL_ALLOWLIST naming what may be reached")
    return errors


def _has_credentials(dsn: str) -> bool:
    """Whether a libpq DSN (URL form) names a secret to log in with, itself or through the environment."""
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return False
    params = {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return bool(password) or bool(params & _CREDENTIAL_PARAMS) or any(os.environ.get(v) for v in _CREDENTIAL_ENV)


def ensure_safe_to_start(settings: Settings) -> None:
    """Raise `InsecureSettingsError` listing every problem; in dev mode weak secrets only warn."""
    errors = configuration_errors(settings)
    if settings.mode is Mode.PRODUCTION:
        errors += weak_secrets(settings) + dev_defaults(settings)
    else:
        for problem in weak_secrets(settings):
            log.warning("dev mode allows this, production will not: %s", problem)
    if errors:
        raise InsecureSettingsError("refusing to start: " + "; ".join(errors))
