"""Dependencies as `Annotated` aliases: routes declare what they need, nothing more.

A bearer token is an API key when it starts with `swk_`, otherwise a JWT (when JWT is enabled).
Every authenticated request is then counted against its caller's and its tenant's rate limits.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.clients import Clients
from api.problems import Problem, ProblemType
from api.ratelimit import RateLimiter
from swath.auth.tokens import JwtVerifier, TokenRejected
from swath.db.keys import Principal, authenticate, looks_like_key

_bearer = HTTPBearer(auto_error=False, description="An API key (`swk_…`) or, where enabled, a JWT.")


def _clients(request: Request) -> Clients:
    return request.app.state.clients


ClientsDep = Annotated[Clients, Depends(_clients)]


def _unauthorized(detail: str) -> Problem:
    return Problem(401, ProblemType.UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def _authenticate(request: Request, clients: Clients, token: str) -> Principal:
    """The principal behind a bearer token; error details never repeat the token."""
    if looks_like_key(token):
        async with clients.db.acquire() as conn:
            principal = await authenticate(conn, key=token)
        if principal is None:
            raise _unauthorized("unknown or revoked API key")
        return principal
    verifier: JwtVerifier | None = request.app.state.jwt_verifier
    if verifier is None:
        raise _unauthorized("the bearer token is not an API key (`swk_…`), and JWT is not enabled")
    try:
        return verifier.verify(token)
    except TokenRejected as err:
        raise _unauthorized(str(err)) from None


async def _principal(
    request: Request,
    response: Response,
    clients: ClientsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise _unauthorized("send an API key or a token as `Authorization: Bearer …`")
    principal = await _authenticate(request, clients, credentials.credentials)
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None:
        verdict = await limiter.hit(principal)
        if not verdict.allowed:
            raise Problem(
                429, ProblemType.RATE_LIMITED, f"rate limit of {verdict.limit} requests exceeded; retry later",
                headers=verdict.headers(),
            )
        response.headers.update(verdict.headers())
    return principal


def require(scope: str):
    """A dependency that lets through principals holding `scope` (or `admin`)."""

    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise Problem(403, ProblemType.FORBIDDEN, f"these credentials lack the {scope!r} scope")
        return principal

    return check


Reader = Annotated[Principal, Depends(require("runs:read"))]
Writer = Annotated[Principal, Depends(require("runs:write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
