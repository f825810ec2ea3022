"""Problem responses in the OpenAPI document, so clients (and schemathesis) see every answer.

Routes document their own problem statuses with an empty `application/problem+json` body; this
fills in the `Problem` schema, replaces FastAPI's default 422 body (the API answers problem
details instead), and adds what every operation of a kind can answer: 401/403/429 where a bearer
token is required, 400 and 413 where a body is taken, 404 where a path names a resource.
It also adds OpenAPI `links`, from the operations that create resources to the ones that take
their ids, so clients (and schemathesis' stateful phase) can follow them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.problems import MEDIA_TYPE

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; problem types may add members (e.g. `errors`).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "examples": ["/problems/not-found"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
_INT_HEADER = {"schema": {"type": "integer"}}
_RATE_HEADERS = {
    "RateLimit-Limit": {**_INT_HEADER, "description": "Requests allowed in the tightest window."},
    "RateLimit-Remaining": {**_INT_HEADER, "description": "Requests left in that window."},
    "RateLimit-Reset": {**_INT_HEADER, "description": "Seconds until that window has room again."},
}
_AUTHENTICATED = {
    "401": ("Missing, unknown, revoked or expired credentials.", {"WWW-Authenticate": {"schema": {"type": "string"}}}),
    "403": ("The credentials lack the scope this operation needs.", {}),
    "429": (
        "Rate limit exceeded.", {"Retry-After": {**_INT_HEADER, "description": "Seconds to wait."}, **_RATE_HEADERS}
    ),
}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` document problem responses and links."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            document_problems(schema)
            document_links(schema)
        return app.openapi_schema

    app.openapi = openapi


def document_problems(schema: dict[str, Any]) -> None:
    """Rewrite `schema` in place (see the module docstring)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "security" in operation:
                for status, (description, headers) in _AUTHENTICATED.items():
                    responses.setdefault(status, _problem(description, headers))
            if "requestBody" in operation:
                responses.setdefault("400", _problem("The body cannot be parsed (e.g. it is not UTF-8).", {}))
                responses.setdefault("413", _problem("The request body is too large.", {}))
            if "{" in path:
                responses.setdefault("404", _problem("No such resource for this tenant.", {}))
            if "422" in responses:
                responses["422"] = _problem("The request is not valid.", {})
            for response in responses.values():
                content = response.get("content", {})
                if MEDIA_TYPE in content:
                    content[MEDIA_TYPE] = {"schema": PROBLEM_REF}


def document_links(schema: dict[str, Any]) -> None:
    """Link each `POST <collection>` answer's `id` to every operation on `<collection>/{param}…`
    (rewrites `schema` in place). Lists get no links: an empty page has no id to follow."""
    paths = schema.get("paths", {})
    for collection, operations in paths.items():
        targets = [
            (path[len(collection) + 1:].split("/", 1)[0].strip("{}"), operation["operationId"])
            for path, ops in paths.items()
            if path.startswith(collection + "/{")
            for operation in ops.values()
        ]
        operation = operations.get("post")
        if operation is None or not targets:
            continue
        for status, response in operation.get("responses", {}).items():
            if status.startswith("2") and _has_id(schema, response):
                response["links"] = {
                    target: {"operationId": target, "parameters": {param: "$response.body#/id"}}
                    for param, target in targets
                }


def _has_id(schema: dict[str, Any], response: dict[str, Any]) -> bool:
    """Whether the response's JSON body has an `id` member."""
    node = response.get("content", {}).get("application/json", {}).get("schema")
    while node is not None and "$ref" in node:
        node = schema["components"]["schemas"].get(node["$ref"].rsplit("/", 1)[1])
    return node is not None and "id" in node.get("properties", {})


def _problem(description: str, headers: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}
    if headers:
        response["headers"] = headers
    return response
