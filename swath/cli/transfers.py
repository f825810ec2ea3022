"""Streaming files to and from the API for `swath blobs put` and `swath runs download`:
read and sent (or received and written) one chunk at a time, with progress on stderr."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from swath.cli import progress
from swath.domain.errors import DownloadError

CHUNK_BYTES = 1024 * 1024
#: Each network read or write may stall this long; a whole transfer may take as long as it needs.
TIMEOUT = httpx.Timeout(60.0)


def client(base_url: str, key: str) -> httpx.Client:
    """An HTTP client of the API, authenticated with `key`."""
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)


def upload(http: httpx.Client, path: Path, name: str) -> httpx.Response:
    """`PUT /v1/blobs/{name}` with the file's bytes, streamed with its `Content-Length`."""
    size = path.stat().st_size

    def chunks(advance) -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                advance(len(chunk))
                yield chunk

    with progress.transfer(f"uploading {path.name}", size) as advance:
        return http.put(
            f"/v1/blobs/{name}", content=chunks(advance),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )


def download(http: httpx.Client, output: dict[str, Any], folder: Path) -> Path:
    """Stream one output (as the run representation lists it) into `folder`, checking its sha256;
    the file appears under its name only once complete and verified."""
    target = _inside(folder, output["name"])
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:
        with http.stream("GET", output["download_url"]) as response, partial.open("wb") as f:
            response.raise_for_status()
            total = int(response.headers.get("content-length", output["size"]))
            with progress.transfer(f"downloading {output['name']}", total) as advance:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    f.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
        if digest.hexdigest() != output["sha256"]:
            raise DownloadError(f"{output['name']}: sha256 {digest.hexdigest()}, expected {output['sha256']}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _inside(folder: Path, name: str) -> Path:
    """Where output `name` goes under `folder`; refused when it would land anywhere else."""
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or any(p in ("..", ".") for p in parts) or "\\" in name:
        raise DownloadError(f"output name {name!r} is not a relative path")
    return folder.joinpath(*parts)
