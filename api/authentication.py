"""`Authentication`: a pure ASGI middleware that decides who calls `/v1/*` from the headers alone.

FastAPI reads and parses a body before it solves dependencies, so checking credentials in a
dependency lets anyone make the API read and parse a body. Here the credential is checked first:
401 (and 429) are answered without ever calling `receive()`, so an unauthenticated body is never
read, however large it is declared or however slowly it arrives. The outcome travels to the routes
as `scope["state"]["principal"]`, which `api.deps` reads.

Order of the checks, cheapest first: the failed-authentication budget of the credential presented
from the client's address (a trusted proxy's `X-Forwarded-For`, else the TCP peer), then the
credential (a JWT signature, or one database query for an API key), then the caller's and the
tenant's rate limits.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ProblemType, problem_response
from api.state import ApiState, api_state
from api.ratelimit import FailedAuthLimiter, RateLimiter, Verdict, credential_id
from swath.auth.tokens import JwtVerifier
from swath.db.keys import authenticate, looks_like_key
from swath.db.revoked_tokens import is_revoked
from swath.domain.errors import AuthenticationFailed, TokenRejected
from swath.domain.principal import Principal

#: Every path under this prefix needs credentials; everything else (health, metrics, docs) is open.
PROTECTED_PREFIX = "/v1/"
#: Where the principal of an authenticated request is kept in the ASGI scope's `state`.
PRINCIPAL = "principal"
#: A client without a known address (not over TCP) is counted under this one name.
UNKNOWN_ADDRESS = "unknown"


def bearer_token(headers: Headers) -> str | None:
    """The credential of `Authorization: Bearer <token>`, or `None` when there is none."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


async def authenticate_token(state: ApiState, token: str | None) -> Principal:
    """The principal behind a bearer token; details never repeat the token."""
    if token is None:
        raise AuthenticationFailed("send an API key or a token as `Authorization: Bearer …`")
    if looks_like_key(token):
        async with state.clients.db.acquire() as conn:
            principal = await authenticate(conn, key=token)
        if principal is None:
            raise AuthenticationFailed("unknown or revoked API key")
        return principal
    verifier: JwtVerifier | None = state.jwt_verifier
    if verifier is None:
        raise AuthenticationFailed("the bearer token is not an API key (`swk_…`), and JWT is not enabled")
    try:
        principal = verifier.verify(token)
    except TokenRejected as err:
        raise AuthenticationFailed(str(err)) from None
    if principal.token_id is not None:  # looked up only once the signature proved the token is the IdP's
        async with state.clients.db.acquire() as conn:
            if await is_revoked(conn, jti=principal.token_id):
                raise AuthenticationFailed("token revoked")
    return principal


class Authentication:
    """Authenticates and rate-limits `/v1/*` requests before the app (and its body parsing) runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        state = api_state(scope["app"])
        # uvicorn has put a trusted proxy's `X-Forwarded-For` here, and only a trusted proxy's (api.serving).
        address = (scope.get("client") or (UNKNOWN_ADDRESS,))[0]
        token = bearer_token(Headers(scope=scope))
        credential = credential_id(token)
        failures: FailedAuthLimiter | None = state.auth_failures
        if failures is not None and (refusal := await failures.refusal(address, credential)) is not None:
            await self._refuse(scope, send, ProblemType.RATE_LIMITED,
                               "too many failed authentications with this credential; retry later", refusal.headers())
            return
        try:
            principal = await authenticate_token(state, token)
        except AuthenticationFailed as err:
            if failures is not None:
                await failures.record_failure(address, credential)
            await self._refuse(scope, send, ProblemType.UNAUTHORIZED, str(err), {"WWW-Authenticate": "Bearer"})
            return
        limiter: RateLimiter | None = state.rate_limiter
        verdict: Verdict | None = await limiter.hit(principal) if limiter is not None else None
        if verdict is not None and not verdict.allowed:
            await self._refuse(scope, send, ProblemType.RATE_LIMITED,
                               f"rate limit of {verdict.limit} requests exceeded; retry later", verdict.headers())
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        if verdict is None:
            await self.app(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in verdict.headers().items()]

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_limits)

    @staticmethod
    async def _refuse(
        scope: Scope, send: Send, kind: ProblemType, detail: str, headers: dict[str, str]
    ) -> None:
        # The body (if any) is left unread; closing the connection keeps it from being parsed as a next request.
        response = problem_response(
            kind, detail, instance=scope["path"], headers={**headers, "Connection": "close"}
        )
        await response(scope, _never_receive, send)


async def _never_receive() -> Message:
    raise RuntimeError("a refused request's body is never read")
