"""Outside dev mode the API refuses to start with default, missing or weak secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.app import create_app
from api.state import api_state
from swath.domain.errors import InsecureSettingsError
from swath.embedded.ports import free_port
from swath.settings import Mode, Settings

REPO = Path(__file__).resolve().parents[2]
STRONG = "s3cr3t-" + "k" * 40
DSN = "postgresql://swath:pw@db.example:5432/swath"
JWT = {"jwt_algorithm": "HS256", "jwt_issuer": "https://issuer.test", "jwt_audience": "swath"}


def production(**fields) -> Settings:
    return Settings(_env_file=None, **{"mode": "production", "database_url": DSN, **fields})


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({**JWT, "jwt_secret": "short"}, "SWATH_JWT_SECRET"),
        ({**JWT, "jwt_secret": "changeme"}, "SWATH_JWT_SECRET"),
        ({**JWT}, "SWATH_JWT_SECRET"),
        ({"jwt_algorithm": "HS256", "jwt_secret": STRONG}, "SWATH_JWT_ISSUER"),
        ({**JWT, "jwt_algorithm": "RS256"}, "SWATH_JWT_PUBLIC_KEY_FILE"),
        ({"database_url": None}, "SWATH_DATABASE_URL"),
        ({"rate_limit_per_key": "lots"}, "SWATH_RATE_LIMIT_PER_KEY"),
    ],
)
def test_production_refuses_weak_or_missing_secrets(fields: dict, named: str) -> None:
    with pytest.raises(InsecureSettingsError) as refused:
        create_app(production(**fields))
    assert named in str(refused.value)
    assert "short" not in str(refused.value) and "changeme" not in str(refused.value)


def test_dev_mode_allows_a_weak_secret_but_never_an_incomplete_jwt_setup() -> None:
    create_app(Settings(_env_file=None, mode="dev", **JWT, jwt_secret="short"))
    with pytest.raises(InsecureSettingsError):
        create_app(Settings(_env_file=None, mode="dev", jwt_algorithm="HS256", jwt_secret=STRONG))


def test_production_with_proper_secrets_starts() -> None:
    assert api_state(create_app(production(**JWT, jwt_secret=STRONG))).jwt_verifier is not None
    assert api_state(create_app(production())).jwt_verifier is None


def test_the_api_process_exits_without_echoing_the_secret() -> None:
    env = {
        **os.environ, "PYTHONPATH": str(REPO), "SWATH_MODE": "production", "SWATH_API_PORT": str(free_port()),
        "SWATH_JWT_ALGORITHM": "HS256", "SWATH_JWT_SECRET": "weak-but-private",
        "SWATH_JWT_ISSUER": "https://issuer.test", "SWATH_JWT_AUDIENCE": "swath",
    }
    env.pop("SWATH_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "api"], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "SWATH_JWT_SECRET" in done.stderr
    assert "weak-but-private" not in done.stderr + done.stdout


def test_production_is_the_default_mode() -> None:
    assert Settings(_env_file=None).mode is Mode.PRODUCTION
    with pytest.raises(InsecureSettingsError, match="SWATH_DATABASE_URL"):
        create_app(Settings(_env_file=None))


@pytest.mark.parametrize(
    "dsn", ["postgresql://postgres@127.0.0.1:5433/swath", "postgresql://swath@db.example/swath?sslmode=require"]
)
def test_production_refuses_a_trust_authenticated_database(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    with pytest.raises(InsecureSettingsError, match="trust-authenticated"):
        create_app(production(database_url=dsn))


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://swath@db.example/swath?passfile=/run/secrets/pgpass",
        "postgresql://swath@db.example/swath?sslcert=/run/secrets/client.crt&sslkey=/run/secrets/client.key",
    ],
)
def test_production_accepts_a_database_with_credentials_outside_the_url(dsn: str) -> None:
    create_app(production(database_url=dsn))


@pytest.mark.parametrize("flag", ["allow_loopback_urls", "webhook_allow_loopback"])
def test_production_refuses_loopback_without_an_allowlist(flag: str) -> None:
    with pytest.raises(InsecureSettingsError, match="SWATH_URL_ALLOWLIST"):
        create_app(production(**{flag: True}))
    create_app(production(**{flag: True, "url_allowlist": ["127.0.0.1/32"]}))


def test_swath_up_runs_in_dev_mode_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWATH_MODE", raising=False)
    assert Settings(_env_file=None).in_dev_mode_unless_set().mode is Mode.DEV
    monkeypatch.setenv("SWATH_MODE", "production")
    assert Settings(_env_file=None).in_dev_mode_unless_set().mode is Mode.PRODUCTION


@pytest.mark.parametrize("argv", [["-m", "workers", "--pool", "ingest"], ["-m", "swath.cli", "worker", "notify"]])
def test_a_worker_process_refuses_production_defaults_with_a_clear_message(argv: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("SWATH_MODE", "SWATH_DATABASE_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, *argv], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "SWATH_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
