"""`Principal`, who a request acts for, whether it came with an API key or a JWT; the scopes a
key or token can carry, and the tenant names allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

#: Every scope a key or token can carry; `admin` implies the others. An API key with `admin` is also a
#: platform admin (keys of every tenant); a JWT only through its own claim (see `swath.auth.tokens`).
SCOPES = ("runs:read", "runs:write", "models:read", "models:write", "admin")
#: Tenants name blob-store folders and search attributes, so they are kept to a safe alphabet.
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_TENANT = re.compile(TENANT_PATTERN)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and what they may do."""

    #: The API key's id; `None` for a JWT.
    key_id: UUID | None
    tenant: str
    scopes: frozenset[str]
    #: The JWT's `sub` claim; `None` for an API key.
    subject: str | None = None
    #: May manage the keys of every tenant. Never derived from a scope an identity provider grants.
    platform_admin: bool = False
    #: The JWT's `jti` claim, by which it can be revoked; `None` for an API key or a token without one.
    token_id: str | None = None

    @property
    def identity(self) -> str:
        """One caller (a key or a token subject), e.g. for per-caller rate limits."""
        return f"key:{self.key_id}" if self.key_id else f"jwt:{self.subject}"


def is_valid_tenant(tenant: str) -> bool:
    """Whether `tenant` is a well-formed tenant name."""
    return bool(_TENANT.fullmatch(tenant))
