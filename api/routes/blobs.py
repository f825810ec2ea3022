"""`/v1/blobs`: streamed uploads of large inputs (scenes), referenced by runs as `blob://…`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from api.deps import ClientsDep, Writer
from api.problems import PROBLEM
from api.schemas import BlobOut
from api.services import blobs
from api.state import api_state
from api.strict_json import StrictJsonRoute
from api.tenant_slots import TenantSlots

router = APIRouter(route_class=StrictJsonRoute, prefix="/v1/blobs", tags=["blobs"])
#: Where uploads are routed; the body size limit of this prefix is `upload_max_bytes`.
PREFIX = f"{router.prefix}/"
RAW_BODY = {
    "requestBody": {
        # An empty body is an empty file, stored as such.
        "required": False,
        "description": "The file's bytes, as they are (any `Content-Type`); streamed, never base64.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _upload_slots(request: Request) -> TenantSlots:
    return api_state(request.app).upload_slots


UploadSlotsDep = Annotated[TenantSlots, Depends(_upload_slots)]


@router.put(
    "/{name}", status_code=201, openapi_extra=RAW_BODY,
    responses={408: PROBLEM, 413: PROBLEM, 422: PROBLEM, 429: PROBLEM},
)
async def put_blob(
    name: Annotated[str, Path(pattern=blobs.NAME_PATTERN, description="1–255 of `A-Z a-z 0-9 . _ -`.")],
    request: Request,
    clients: ClientsDep,
    principal: Writer,
    slots: UploadSlotsDep,
) -> BlobOut:
    """Store the body as the tenant's upload `name` (replacing a previous one atomically).

    Refer to it in a run as `{"id": …, "uri": <uri>}`. Bodies over `SWATH_UPLOAD_MAX_BYTES` are
    413 `request-too-large`, and bodies that would take the tenant's uploads past its quota
    (`SWATH_UPLOAD_QUOTA_BYTES`, `SWATH_UPLOAD_QUOTA_OBJECTS`) 413 `quota-exceeded`: at once when
    `Content-Length` says so, else as soon as the streamed bytes pass it. A body that sends nothing
    for `SWATH_UPLOAD_READ_TIMEOUT_S` is 408; more than `SWATH_UPLOAD_CONCURRENCY_PER_TENANT`
    uploads of a tenant at once, 429 with `Retry-After`.
    """
    declared = request.headers.get("content-length", "")
    return await blobs.upload(
        clients, principal, name, request.stream(),
        declared_bytes=int(declared) if declared.isdigit() else None, slots=slots,
    )
