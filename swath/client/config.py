"""Where the API is and which key to send: an argument, else `SWATH_API_URL` / `SWATH_API_KEY`,
else the profile of the config file, else the embedded stack's defaults (`$SWATH_PUBLIC_URL`, or
`$SWATH_API_HOST`/`$SWATH_API_PORT`, or `http://127.0.0.1:8000`, and the dev key `swath up` wrote to `$SWATH_DATA_DIR/dev-api-key`,
`data/dev-api-key` by default).

The config file is `$SWATH_CONFIG`, else `~/.config/swath/config.toml` (`$XDG_CONFIG_HOME`
honoured); the profile is an argument, else `$SWATH_PROFILE`, else `default`:

    [profiles.default]
    api_url = "http://127.0.0.1:8000"
    api_key = "swk_…"

    [profiles.prod]
    api_url = "https://swath.example.com"
    api_key_file = "~/.secrets/swath-prod"   # rather than the key itself
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:8000"
#: Where `swath up` (the embedded stack) writes its dev key, relative to where it was started.
DEV_KEY_FILE = Path("data") / "dev-api-key"
DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Connection:
    """The API's base URL and the key to send it (`None`: send none)."""

    api_url: str
    api_key: str | None


def config_file() -> Path:
    """The config file's path (it need not exist)."""
    if explicit := os.environ.get("SWATH_CONFIG"):
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "swath" / "config.toml"


def profile_settings(profile: str | None = None, path: Path | None = None) -> dict[str, str]:
    """The profile's table from the config file; empty when the file or the profile is absent
    (an explicitly named profile that is absent is an error)."""
    name = profile or os.environ.get("SWATH_PROFILE") or DEFAULT_PROFILE
    path = path or config_file()
    if not path.is_file():
        if profile:
            raise ValueError(f"no config file {path} for profile {name!r}")
        return {}
    profiles = tomllib.loads(path.read_text()).get("profiles", {})
    if name not in profiles and (profile or os.environ.get("SWATH_PROFILE")):
        raise ValueError(f"no profile {name!r} in {path}")
    return dict(profiles.get(name, {}))


def _server_address() -> str | None:
    """`http://$SWATH_API_HOST:$SWATH_API_PORT` where either is set (as next to a running API)."""
    host, port = os.environ.get("SWATH_API_HOST"), os.environ.get("SWATH_API_PORT")
    if not (host or port):
        return None
    return f"http://{host or '127.0.0.1'}:{port or '8000'}"


def resolve(api_url: str | None = None, api_key: str | None = None, *, profile: str | None = None) -> Connection:
    """The connection, from the arguments, the environment, the profile and the defaults, in that order."""
    settings = profile_settings(profile)
    url = (
        api_url or os.environ.get("SWATH_API_URL") or settings.get("api_url")
        # The server's own settings: where a machine (or pod) running the API says clients reach it.
        or os.environ.get("SWATH_PUBLIC_URL") or _server_address() or DEFAULT_API_URL
    )
    key = api_key or os.environ.get("SWATH_API_KEY") or settings.get("api_key")
    if not key and (key_file := settings.get("api_key_file")):
        key = Path(key_file).expanduser().read_text().strip()
    dev_key = Path(os.environ["SWATH_DATA_DIR"]) / DEV_KEY_FILE.name if os.environ.get("SWATH_DATA_DIR") else DEV_KEY_FILE
    if not key and dev_key.is_file():
        key = dev_key.read_text().strip()
    return Connection(api_url=url.rstrip("/"), api_key=key or None)
