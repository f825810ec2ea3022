"""The blob store: inputs, staged tensors and outputs, addressed by `blob://<key>` references.

One interface; the local-directory implementation serves the embedded stack. Writes are atomic
(temp file + rename), so a retried activity rewriting a key never leaves a torn object.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from swath.errors import BlobNotFoundError, InvalidBlobRefError

SCHEME = "blob://"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


def key_of(ref: str) -> str:
    """The key inside a `blob://` reference; refuses anything that could escape the store."""
    if not ref.startswith(SCHEME):
        raise InvalidBlobRefError(f"not a blob reference: {ref!r}")
    key = ref[len(SCHEME):]
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise InvalidBlobRefError(f"invalid blob key: {key!r}")
    return key


def ref_of(key: str) -> str:
    """The `blob://` reference for a key (validated)."""
    ref = SCHEME + key
    key_of(ref)
    return ref


class BlobStore(Protocol):
    """What every blob store offers."""

    async def put(self, key: str, data: bytes) -> str:
        """Store bytes under a key; returns its reference. Overwrites (idempotent writes)."""
        ...

    async def get(self, ref: str) -> bytes:
        """The bytes behind a reference; `BlobNotFoundError` if there are none."""
        ...

    async def exists(self, ref: str) -> bool:
        """Whether an object exists under the reference."""
        ...

    async def delete(self, ref: str) -> None:
        """Remove the object under a reference; nothing there is not an error."""
        ...


class LocalBlobStore:
    """Blobs as files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, ref: str) -> Path:
        return self.root / key_of(ref)

    async def put(self, key: str, data: bytes) -> str:
        ref = ref_of(key)
        await asyncio.to_thread(self._write, self._path(ref), data)
        return ref

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    async def get(self, ref: str) -> bytes:
        path = self._path(ref)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobNotFoundError(ref) from None

    async def exists(self, ref: str) -> bool:
        return await asyncio.to_thread(self._path(ref).is_file)

    async def delete(self, ref: str) -> None:
        await asyncio.to_thread(self._path(ref).unlink, missing_ok=True)
