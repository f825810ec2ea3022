"""`405 Method Not Allowed` with an `Allow` header naming every method the path supports.

Starlette answers 405 from the first route whose path matches, so its `Allow` lists only that
route's methods although other routes (one per method, as FastAPI declares them) serve the same
path. This handler asks the whole router, method by method, which would serve the path (routers
included under a prefix answer for their own routes, so nesting needs no special case).
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.problems import ProblemType, problem_response


#: The methods a route may serve (RFC 9110 and PATCH); CONNECT and TRACE are never routed.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route of `app` fully serves at the request's path, in `HTTP_METHODS` order."""
    return [
        method for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    ]


def install(app: FastAPI) -> None:
    """Answer every 405 as a problem document with the complete `Allow`."""

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        allow = ", ".join(allowed_methods(app, request))
        return problem_response(
            ProblemType.HTTP, f"{request.method} is not allowed here; use {allow}",
            status=HTTPStatus.METHOD_NOT_ALLOWED, instance=request.url.path, headers={"Allow": allow},
        )
