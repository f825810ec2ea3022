"""`swath webhooks …`: deliveries, resend, recover, endpoints and the default secret, through the
API (printed as its JSON)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from swath.cli.output import ApiKey, ApiUrl, Profile, connect, print_json, reporting
from swath.client import transport

#: Accepted everywhere for uniformity: these commands print the API's JSON either way.
AlwaysJson = Annotated[bool, typer.Option("--json", help="JSON (these commands always print JSON).")]

app = typer.Typer(help="Inspect, resend and recover webhook deliveries.", no_args_is_help=True)


def _call(ctx: typer.Context, conn: tuple[str | None, str | None, str | None], label: str, method: str, path: str,
          **request: Any) -> None:
    with connect(ctx, *conn) as swath, reporting(f"webhooks {label}", as_json=True):
        print_json(transport.body(swath.request(method, path, **request)))


@app.command()
def deliveries(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Option()] = None,
    endpoint_id: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered or failed")] = None,
    limit: int = 50,
    as_json: AlwaysJson = True, api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Webhook messages, newest first."""
    filters = {"run_id": run_id, "endpoint_id": endpoint_id, "status": status}
    params = {k: v for k, v in filters.items() if v} | {"limit": limit}
    _call(ctx, (api_url, api_key, profile), "deliveries", "GET", "/v1/webhook-deliveries", params=params)


@app.command()
def delivery(ctx: typer.Context, message_id: str, as_json: AlwaysJson = True, api_url: ApiUrl = None, api_key: ApiKey = None,
             profile: Profile = None) -> None:
    """One message with its attempts."""
    _call(ctx, (api_url, api_key, profile), "delivery", "GET", f"/v1/webhook-deliveries/{message_id}")


@app.command()
def resend(ctx: typer.Context, message_id: str, as_json: AlwaysJson = True, api_url: ApiUrl = None, api_key: ApiKey = None,
           profile: Profile = None) -> None:
    """Deliver a message again."""
    _call(ctx, (api_url, api_key, profile), "resend", "POST", f"/v1/webhook-deliveries/{message_id}/resend")


@app.command()
def recover(
    ctx: typer.Context, endpoint_id: str,
    since: Annotated[str, typer.Option(help="ISO 8601 time, e.g. 2026-01-01T00:00:00Z")],
    as_json: AlwaysJson = True, api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None,
) -> None:
    """Resend an endpoint's failed messages since a time."""
    path = f"/v1/webhook-endpoints/{endpoint_id}/recover"
    _call(ctx, (api_url, api_key, profile), "recover", "POST", path, json={"since": since})


@app.command()
def endpoints(ctx: typer.Context, as_json: AlwaysJson = True, api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None) -> None:
    """Registered endpoints."""
    _call(ctx, (api_url, api_key, profile), "endpoints", "GET", "/v1/webhook-endpoints")


@app.command()
def secret(ctx: typer.Context, as_json: AlwaysJson = True, api_url: ApiUrl = None, api_key: ApiKey = None, profile: Profile = None) -> None:
    """The secret that signs per-run webhooks."""
    _call(ctx, (api_url, api_key, profile), "secret", "GET", "/v1/webhooks/default/secret")
