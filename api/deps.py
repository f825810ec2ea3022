"""Dependencies as `Annotated` aliases: routes declare what they need, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.clients import Clients
from api.problems import Problem, ProblemType
from swath.db.keys import Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key (`swk_…`).")


def _clients(request: Request) -> Clients:
    return request.app.state.clients


ClientsDep = Annotated[Clients, Depends(_clients)]


async def _principal(
    clients: ClientsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Problem(401, ProblemType.UNAUTHORIZED, "send an API key as `Authorization: Bearer swk_…`", headers=challenge)
    async with clients.db.acquire() as conn:
        principal = await authenticate(conn, key=credentials.credentials)
    if principal is None:
        raise Problem(401, ProblemType.UNAUTHORIZED, "unknown or revoked API key", headers=challenge)
    return principal


def require(scope: str):
    """A dependency that lets through principals holding `scope` (or `admin`)."""

    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise Problem(403, ProblemType.FORBIDDEN, f"this key lacks the {scope!r} scope")
        return principal

    return check


Reader = Annotated[Principal, Depends(require("runs:read"))]
Writer = Annotated[Principal, Depends(require("runs:write"))]
