"""`/v1/keys`: create, list and revoke API keys; `/v1/revoked-tokens`: revoke JWTs by `jti` (platform
admins only: see `api.deps.Admin`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api.deps import Admin, ClientsDep
from api.problems import PROBLEM
from api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, RevokedToken, TokenRevoke
from api.services import keys
from api.strict_json import StrictJsonRoute
from swath.domain.principal import TENANT_PATTERN

router = APIRouter(route_class=StrictJsonRoute, prefix="/v1/keys", tags=["keys"])
#: Revoked JWTs, by `jti`: beside the keys (not under `/v1/keys/`, where a path segment is a key's id).
revoked_tokens = APIRouter(route_class=StrictJsonRoute, prefix="/v1/revoked-tokens", tags=["keys"])


@router.post("", status_code=201, responses={422: PROBLEM})
async def create_key(body: KeyCreate, clients: ClientsDep, principal: Admin) -> KeyCreated:
    """A new key for a tenant; `key` appears in this response only, store it now."""
    return await keys.create_key(clients, body)


@router.get("")
async def list_keys(
    clients: ClientsDep, principal: Admin, tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None
) -> KeyList:
    """Every key (or one tenant's), newest first, with its last use; never the keys themselves."""
    return await keys.list_keys(clients, tenant)


@router.delete("/{key_id}", responses={404: PROBLEM})
async def revoke_key(key_id: UUID, clients: ClientsDep, principal: Admin) -> KeyOut:
    """Revoke a key: every request with it is refused from now on."""
    return await keys.revoke_key(clients, key_id)


@revoked_tokens.post("", status_code=201, responses={422: PROBLEM})
async def revoke_token(body: TokenRevoke, clients: ClientsDep, principal: Admin) -> RevokedToken:
    """Revoke every JWT with this `jti`: refused from now on (revoking again keeps the first time)."""
    return await keys.revoke_token(clients, body.jti)
