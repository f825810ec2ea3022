"""Dependencies as `Annotated` aliases: routes declare what they need, nothing more.

Who calls was settled by `api.authentication` before the body was read (401 and 429 come from
there); here the principal is picked up and its scopes checked (403). The bearer scheme stays
declared so the OpenAPI document shows which operations need credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.authentication import PRINCIPAL
from api.clients import Clients
from api.problems import Problem, ProblemType
from api.state import ApiState, api_state
from swath.domain.principal import Principal
from swath.observe.logs import bind_run

_bearer = HTTPBearer(auto_error=False, description="An API key (`swk_…`) or, where enabled, a JWT.")


def _clients(request: Request) -> Clients:
    return api_state(request.app).clients


def _state(request: Request) -> ApiState:
    return api_state(request.app)


ClientsDep = Annotated[Clients, Depends(_clients)]
StateDep = Annotated[ApiState, Depends(_state)]


async def _bind_path_run(request: Request) -> AsyncIterator[None]:
    run_id = request.path_params.get("run_id")
    if run_id is None:
        yield
        return
    with bind_run(run_id):
        yield


#: A router dependency: log lines of a request for one run (`…/{run_id}…`) carry its id.
RunLogContext = Depends(_bind_path_run)


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = request.scope.get("state", {}).get(PRINCIPAL)
    if principal is None:  # a route outside the authenticated prefix asked for a caller
        raise Problem(ProblemType.UNAUTHORIZED, "this operation needs credentials",
                      headers={"WWW-Authenticate": "Bearer"})
    return principal


def require(scope: str):
    """A dependency that lets through principals holding `scope` (or `admin`)."""

    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise Problem(ProblemType.FORBIDDEN, f"these credentials lack the {scope!r} scope")
        return principal

    return check


async def _platform_admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not principal.platform_admin:
        raise Problem(ProblemType.FORBIDDEN, "only a platform admin may manage API keys")
    return principal


Reader = Annotated[Principal, Depends(require("runs:read"))]
Writer = Annotated[Principal, Depends(require("runs:write"))]
#: Manages the keys of every tenant: an API key with `admin`, or a JWT with the platform-admin claim.
Admin = Annotated[Principal, Depends(_platform_admin)]
ModelReader = Annotated[Principal, Depends(require("models:read"))]
ModelWriter = Annotated[Principal, Depends(require("models:write"))]
