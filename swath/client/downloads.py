"""The file side of downloads: where an output goes, a partial file resumed with `Range`, the
sha256 check, and files readable by their owner only (outputs may be confidential)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

from swath.client.errors import DownloadError
from swath.client.types import OutputOut

CHUNK_BYTES = 1024 * 1024
#: Owner read and write: outputs are the tenant's data.
FILE_MODE = 0o600


def target_path(folder: Path, name: str) -> Path:
    """Where output `name` goes under `folder`; refused when it would land anywhere else."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or any(p in ("..", ".") for p in parts) or "\\" in name:
        raise DownloadError(f"output name {name!r} is not a relative path")
    return folder.joinpath(*parts)


class PartialFile:
    """`.<name>.part` next to the target: appended to across attempts, renamed once verified."""

    def __init__(self, folder: Path, output: OutputOut) -> None:
        self.output = output
        self.target = target_path(folder, output.name)
        self.partial = self.target.with_name(f".{self.target.name}.part")
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None

    @property
    def offset(self) -> int:
        """Bytes already here from an earlier attempt (0 if none, or if more than the output holds)."""
        size = self.partial.stat().st_size if self.partial.exists() else 0
        return size if size < self.output.size else 0

    def range_header(self) -> dict[str, str]:
        """`Range: bytes=<offset>-` when resuming, else nothing."""
        return {"Range": f"bytes={self.offset}-"} if self.offset else {}

    def open(self, *, resumed: bool) -> None:
        """Open for appending (`resumed`: the server answered 206 from our offset) or from scratch."""
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resumed else os.O_TRUNC)
        self._fd = os.open(self.partial, flags, FILE_MODE)
        os.fchmod(self._fd, FILE_MODE)  # a partial file left by an older umask

    def write(self, chunk: bytes) -> None:
        """Append one chunk."""
        assert self._fd is not None
        os.write(self._fd, chunk)

    def close(self) -> None:
        """Close the partial file (kept, to resume)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self) -> Path:
        """Check the whole file's sha256 and move it to its name; a mismatch deletes it."""
        self.close()
        digest = hashlib.sha256()
        with self.partial.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
        if digest.hexdigest() != self.output.sha256:
            self.partial.unlink(missing_ok=True)
            raise DownloadError(f"{self.output.name}: sha256 {digest.hexdigest()}, expected {self.output.sha256}")
        os.replace(self.partial, self.target)
        return self.target
