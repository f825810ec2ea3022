"""Outside dev mode the API refuses to start with default, missing or weak secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.app import create_app
from swath.auth.checks import InsecureSettingsError
from swath.embedded.ports import free_port
from swath.settings import Settings

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
    create_app(Settings(_env_file=None, **JWT, jwt_secret="short"))
    with pytest.raises(InsecureSettingsError):
        create_app(Settings(_env_file=None, jwt_algorithm="HS256", jwt_secret=STRONG))


def test_production_with_proper_secrets_starts() -> None:
    assert create_app(production(**JWT, jwt_secret=STRONG)).state.jwt_verifier is not None
    assert create_app(production()).state.jwt_verifier is None


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
