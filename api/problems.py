"""RFC 9457 problem details: every error the API returns is `application/problem+json`."""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"


class ProblemType(StrEnum):
    """The problem types the API can answer with; `type` is `/problems/<value>`."""

    VALIDATION = "validation-error"
    UNKNOWN_MODEL = "unknown-model"
    URL_REFUSED = "url-refused"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    TOO_MANY_ITEMS = "too-many-items"
    IDEMPOTENCY_CONFLICT = "idempotency-key-reused"
    NOT_FOUND = "not-found"
    RUN_ALREADY_FINISHED = "run-already-finished"
    INPUTS_GONE = "inputs-gone"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate-limited"
    REQUEST_TOO_LARGE = "request-too-large"
    DELIVERY_IN_PROGRESS = "webhook-delivery-in-progress"
    TOO_MANY_ENDPOINTS = "too-many-webhook-endpoints"
    DUPLICATE_ENDPOINT = "duplicate-webhook-endpoint"
    UNAVAILABLE = "service-unavailable"
    CIRCUIT_OPEN = "circuit-open"
    HTTP = "http-error"
    INTERNAL = "internal-error"


class Problem(Exception):
    """Raise from a route or dependency to answer with a problem document."""

    def __init__(
        self,
        status: int,
        type: ProblemType,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = type
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


def problem_response(
    status: int, type: ProblemType, detail: str, *, instance: str | None = None,
    headers: dict[str, str] | None = None, **extensions: Any,
) -> JSONResponse:
    """A problem document as a response."""
    body = {"type": f"/problems/{type.value}", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def install(app: FastAPI) -> None:
    """Route every error through problem details."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.type, exc.detail, instance=request.url.path, headers=exc.headers, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(422, ProblemType.VALIDATION, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = ProblemType.NOT_FOUND if exc.status_code == 404 else ProblemType.HTTP
        return problem_response(
            exc.status_code, kind, str(exc.detail), instance=request.url.path, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(500, ProblemType.INTERNAL, "internal error", instance=request.url.path)
