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
#: How a route documents a problem answer in the OpenAPI schema (`responses={404: PROBLEM, …}`);
#: `api.openapi` fills in the schema of the body.
PROBLEM = {"content": {MEDIA_TYPE: {}}, "description": "Problem details (RFC 9457)."}


class ProblemType(StrEnum):
    """The problem types the API can answer with; `type` is `/problems/<value>`, and each type is
    answered with the one HTTP status it carries."""

    status: HTTPStatus

    def __new__(cls, slug: str, status: HTTPStatus) -> ProblemType:
        member = str.__new__(cls, slug)
        member._value_ = slug
        member.status = status
        return member

    VALIDATION = "validation-error", HTTPStatus.UNPROCESSABLE_ENTITY
    UNKNOWN_MODEL = "unknown-model", HTTPStatus.UNPROCESSABLE_ENTITY
    URL_REFUSED = "url-refused", HTTPStatus.UNPROCESSABLE_ENTITY
    PAYLOAD_TOO_LARGE = "payload-too-large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    TOO_MANY_ITEMS = "too-many-items", HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    IDEMPOTENCY_CONFLICT = "idempotency-key-reused", HTTPStatus.CONFLICT
    NOT_FOUND = "not-found", HTTPStatus.NOT_FOUND
    RUN_ALREADY_FINISHED = "run-already-finished", HTTPStatus.CONFLICT
    INPUTS_GONE = "inputs-gone", HTTPStatus.CONFLICT
    OUTPUTS_GONE = "outputs-gone", HTTPStatus.GONE
    RANGE_NOT_SATISFIABLE = "range-not-satisfiable", HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE
    UNAUTHORIZED = "unauthorized", HTTPStatus.UNAUTHORIZED
    FORBIDDEN = "forbidden", HTTPStatus.FORBIDDEN
    RATE_LIMITED = "rate-limited", HTTPStatus.TOO_MANY_REQUESTS
    #: The tenant has as many runs queued, or unfinished, as its caps allow (`docs/sharing.md`).
    RUN_QUOTA = "run-quota-exceeded", HTTPStatus.TOO_MANY_REQUESTS
    REQUEST_TOO_LARGE = "request-too-large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    QUOTA_EXCEEDED = "quota-exceeded", HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    UPLOAD_TIMEOUT = "upload-timeout", HTTPStatus.REQUEST_TIMEOUT
    TOO_MANY_UPLOADS = "too-many-uploads", HTTPStatus.TOO_MANY_REQUESTS
    #: The tenant holds as many event streams and `Prefer: wait` requests open as it may.
    TOO_MANY_STREAMS = "too-many-streams", HTTPStatus.TOO_MANY_REQUESTS
    #: The tenant has as many pushed model versions still validating as it may (`docs/models.md`).
    TOO_MANY_VALIDATIONS = "too-many-validations", HTTPStatus.TOO_MANY_REQUESTS
    DELIVERY_IN_PROGRESS = "webhook-delivery-in-progress", HTTPStatus.CONFLICT
    TOO_MANY_ENDPOINTS = "too-many-webhook-endpoints", HTTPStatus.CONFLICT
    DUPLICATE_ENDPOINT = "duplicate-webhook-endpoint", HTTPStatus.CONFLICT
    MODEL_EXISTS = "model-exists", HTTPStatus.CONFLICT
    VERSION_EXISTS = "model-version-exists", HTTPStatus.CONFLICT
    VERSION_IN_USE = "model-version-in-use", HTTPStatus.CONFLICT
    INVALID_MANIFEST = "invalid-manifest", HTTPStatus.UNPROCESSABLE_ENTITY
    INCOMPATIBLE_VERSION = "incompatible-model-version", HTTPStatus.UNPROCESSABLE_ENTITY
    ALIAS_CHANGED = "alias-changed", HTTPStatus.PRECONDITION_FAILED
    NOTHING_TO_ROLL_BACK = "nothing-to-roll-back", HTTPStatus.CONFLICT
    UNAVAILABLE = "service-unavailable", HTTPStatus.SERVICE_UNAVAILABLE
    CIRCUIT_OPEN = "circuit-open", HTTPStatus.SERVICE_UNAVAILABLE
    #: A protocol-level refusal (a body that is not UTF-8, a method not allowed, an HTTP error
    #: the framework raised): the one type whose status is the refusal's own, 400 unless given.
    HTTP = "http-error", HTTPStatus.BAD_REQUEST
    INTERNAL = "internal-error", HTTPStatus.INTERNAL_SERVER_ERROR


def status_of(type: ProblemType, status: int | None = None) -> int:
    """The status a problem of `type` is answered with; only `ProblemType.HTTP` takes another."""
    if status is None or status == type.status:
        return int(type.status)
    if type is not ProblemType.HTTP:
        raise ValueError(f"{type.name} problems are always answered with {int(type.status)}, not {status}")
    return int(status)


class Problem(Exception):
    """Raise from a route or dependency to answer with a problem document of `type`'s status."""

    def __init__(
        self,
        type: ProblemType,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status_of(type, status)
        self.type = type
        self.detail = detail
        self.headers = headers
        self.extensions = extensions


def problem_response(
    type: ProblemType, detail: str, *, status: int | None = None, instance: str | None = None,
    headers: dict[str, str] | None = None, **extensions: Any,
) -> JSONResponse:
    """A problem document as a response."""
    body = problem_body(type, detail, status=status, instance=instance, **extensions)
    return JSONResponse(body, status_code=body["status"], headers=headers, media_type=MEDIA_TYPE)


def problem_body(
    type: ProblemType, detail: str, *, status: int | None = None, instance: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """A problem document's members: `type`, `title`, `status`, `detail`, then `instance` and extensions."""
    code = status_of(type, status)
    body: dict[str, Any] = {
        "type": f"/problems/{type.value}", "title": HTTPStatus(code).phrase, "status": code, "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def _message(error: dict[str, Any]) -> str:
    """A validation error's message; a JSON syntax error says what was wrong where ("Expecting ','")."""
    msg = str(error.get("msg", ""))
    reason = (error.get("ctx") or {}).get("error")
    return f"{msg}: {reason}" if error.get("type") == "json_invalid" and reason else msg


def install(app: FastAPI) -> None:
    """Route every error through problem details."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.type, exc.detail, status=exc.status, instance=request.url.path, headers=exc.headers, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": _message(e), "type": e.get("type", "")} for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(ProblemType.VALIDATION, detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = ProblemType.NOT_FOUND if exc.status_code == ProblemType.NOT_FOUND.status else ProblemType.HTTP
        return problem_response(
            kind, str(exc.detail), status=exc.status_code, instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(ProblemType.INTERNAL, "internal error", instance=request.url.path)
