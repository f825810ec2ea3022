"""What the blocking and the asyncio clients share: headers, answers turned into results or
errors, the events URL, and which URLs may see the key."""

from __future__ import annotations

import json
import uuid
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from swath.client.errors import APIConnectionError, APIError, api_error

#: `Prefer: wait=N` is honoured up to this many seconds by the API.
MAX_PREFER_WAIT_S = 60
#: Each network read may stall this long; a long download takes as long as it needs.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
#: An events stream waits this long for a line (the API sends a keep-alive comment more often).
STREAM_READ_TIMEOUT_S = 30.0


def client_version() -> str:
    """The installed distribution's version (`0+unknown` from a bare checkout)."""
    try:
        return version("swath")
    except PackageNotFoundError:
        return "0+unknown"


def headers(api_key: str | None) -> dict[str, str]:
    """Headers every API request carries."""
    out = {"User-Agent": f"swath-client/{client_version()}", "Accept": "application/json"}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    return out


def new_idempotency_key() -> str:
    """A fresh key for one `runs.create` call: its retries share it, so the run is created once."""
    return f"swath-client-{uuid.uuid4()}"


def prefer_wait(seconds: float) -> dict[str, str]:
    """`Prefer: wait=N` (N capped to what the API honours)."""
    return {"Prefer": f"wait={max(1, min(MAX_PREFER_WAIT_S, int(seconds)))}"}


def error_of(response: httpx.Response) -> APIError:
    """The exception for an error answer, carrying its problem document."""
    try:
        problem = response.json()
        if not isinstance(problem, dict):
            raise ValueError
    except ValueError:
        problem = {"title": response.reason_phrase, "detail": response.text[:500]}
    return api_error(response.status_code, problem, dict(response.headers))


def body(response: httpx.Response) -> Any:
    """The decoded JSON of a successful answer; an error answer raises its `APIError`."""
    if response.is_error:
        raise error_of(response)
    return response.json()


def connection_error(base_url: str, err: httpx.TransportError) -> APIConnectionError:
    """A transport failure as the client reports it."""
    return APIConnectionError(f"cannot reach the API at {base_url}: {type(err).__name__}: {err}")


def same_origin(url: str, base_url: str) -> bool:
    """Whether `url` (absolute, or relative to `base_url`) is on the API's own origin: only such
    URLs are sent the key (a presigned redirect, or a link in a body, never is)."""
    a, b = urlsplit(urljoin(base_url + "/", url)), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def events_path(run_id: str) -> str:
    """Where a run's Server-Sent Events are."""
    return f"/v1/runs/{run_id}/events"


def run_json(data: str) -> dict[str, Any]:
    """An event's data: the run's JSON."""
    return json.loads(data)
