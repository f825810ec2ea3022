"""`LocalBlobStore`: blobs as files under one root directory (the embedded stack's store).

Writes go to a temp file in the target's directory and are renamed into place, so a retried
activity rewriting a key never leaves a torn object; temp names start with `.`, which no valid
key segment does, so listings never see them.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from swath.blobstore.refs import checked_key, key_of, ref_of
from swath.blobstore.store import STREAM_CHUNK_BYTES, BlobInfo
from swath.domain.errors import BlobNotFoundError, BlobRangeError, InvalidBlobRefError

_TEMP_PREFIX = ".tmp-"


class LocalBlobStore:
    """Blobs as files under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, ref: str) -> Path:
        return self.root / key_of(ref)

    def local_path(self, ref: str) -> Path:
        """The file that holds `ref` (it may not exist), for readers that need a path, like GDAL."""
        return self._path(ref)

    async def put(self, key: str, data: bytes) -> str:
        ref = ref_of(key)
        await asyncio.to_thread(self._write, self._path(ref), [data])
        return ref

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> str:
        ref = ref_of(key)
        path = self._path(ref)
        f, tmp = await asyncio.to_thread(self._open_temp, path)
        try:
            with f:
                async for chunk in chunks:
                    await asyncio.to_thread(f.write, chunk)
            await asyncio.to_thread(os.replace, tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return ref

    @staticmethod
    def _open_temp(path: Path) -> tuple[BinaryIO, str]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
        return os.fdopen(fd, "wb"), tmp

    @classmethod
    def _write(cls, path: Path, chunks: list[bytes]) -> None:
        f, tmp = cls._open_temp(path)
        try:
            with f:
                for chunk in chunks:
                    f.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    async def get(self, ref: str) -> bytes:
        path = self._path(ref)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFoundError(ref) from None

    async def open_stream(self, ref: str, chunk_size: int = STREAM_CHUNK_BYTES) -> AsyncIterator[bytes]:
        f = await asyncio.to_thread(self._open_blob, ref)
        return self._chunks(f, chunk_size)

    def _open_blob(self, ref: str) -> BinaryIO:
        try:
            return self._path(ref).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFoundError(ref) from None

    @staticmethod
    async def _chunks(f: BinaryIO, chunk_size: int) -> AsyncIterator[bytes]:
        with f:
            while chunk := await asyncio.to_thread(f.read, chunk_size):
                yield chunk

    async def get_range(self, ref: str, start: int, length: int) -> bytes:
        if length <= 0 or start < 0:
            raise BlobRangeError(f"no bytes in range start={start} length={length}")
        return await asyncio.to_thread(self._read_range, ref, start, length)

    def _read_range(self, ref: str, start: int, length: int) -> bytes:
        with self._open_blob(ref) as f:
            if start >= os.fstat(f.fileno()).st_size:
                raise BlobRangeError(f"{ref} ends before offset {start}")
            f.seek(start)
            return f.read(length)

    async def size(self, ref: str) -> int:
        path = self._path(ref)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise BlobNotFoundError(ref) from None
        if not path.is_file():
            raise BlobNotFoundError(ref)
        return stat.st_size

    async def exists(self, ref: str) -> bool:
        return await asyncio.to_thread(self._path(ref).is_file)

    async def delete(self, ref: str) -> None:
        path = self._path(ref)
        if await asyncio.to_thread(path.is_file):
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def list_prefix(self, prefix: str) -> AsyncIterator[BlobInfo]:
        for info in await asyncio.to_thread(self._scan, checked_key(prefix)):
            yield info

    def _scan(self, prefix: str) -> list[BlobInfo]:
        found = []
        for folder, _, files in os.walk(self.root / prefix):
            for name in files:
                path = Path(folder) / name
                try:
                    ref = ref_of(path.relative_to(self.root).as_posix())
                    stat = path.stat()
                except (InvalidBlobRefError, FileNotFoundError):
                    continue  # a temp file, or a blob deleted while we looked
                found.append(BlobInfo(ref, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return found

    async def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        async for info in self.list_prefix(prefix):
            await self.delete(info.ref)
            deleted += 1
        return deleted

    async def list_children(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._children, checked_key(prefix))

    def _children(self, prefix: str) -> list[str]:
        try:
            entries = list(os.scandir(self.root / prefix))
        except (FileNotFoundError, NotADirectoryError):
            return []
        names = []
        for entry in entries:
            try:
                checked_key(entry.name)
            except InvalidBlobRefError:
                continue  # a temp file's name, or nothing a blob store wrote
            if entry.is_dir():
                names.append(entry.name)
        return sorted(names)

    async def presigned_get(self, ref: str, expires_s: int) -> str | None:
        return None  # a directory has no URLs of its own: the API streams its blobs

    async def delete_stale_temp_files(self, before: datetime) -> int:
        return await asyncio.to_thread(self._delete_stale_temps, before.timestamp())

    def _delete_stale_temps(self, before: float) -> int:
        deleted = 0
        for folder, _, files in os.walk(self.root):
            for name in files:
                if not name.startswith(_TEMP_PREFIX):
                    continue
                path = Path(folder) / name
                try:
                    # A write in progress keeps touching its file; only one nobody wrote to for long is stale.
                    if path.stat().st_mtime < before:
                        path.unlink()
                        deleted += 1
                except FileNotFoundError:
                    continue  # renamed into place, or removed by its writer, while we looked
        return deleted
