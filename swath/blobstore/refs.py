"""`blob://<key>` references: the only way payloads name a blob, refused when they could escape."""

from __future__ import annotations

import re

from swath.domain.errors import InvalidBlobRefError

SCHEME = "blob://"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


def key_of(ref: str) -> str:
    """The key inside a `blob://` reference; refuses anything that could escape the store."""
    if not ref.startswith(SCHEME):
        raise InvalidBlobRefError(f"not a blob reference: {ref!r}")
    return checked_key(ref[len(SCHEME):])


def ref_of(key: str) -> str:
    """The `blob://` reference for a key (validated)."""
    return SCHEME + checked_key(key)


def checked_key(key: str) -> str:
    """A key (or a key prefix: whole segments, no trailing `/`) unchanged, if it is well-formed."""
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise InvalidBlobRefError(f"invalid blob key: {key!r}")
    return key
