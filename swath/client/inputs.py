"""Turning what a caller hands `runs.create` into the API's input items.

Accepted, each optionally as an `(id, source)` pair to name it:

- a local file (`Path`, or a `str` naming an existing file): uploaded first (`PUT /v1/blobs`),
  then referenced as `blob://…`;
- a URL (`https://`, `http://`) or a blob reference (`blob://`): passed as `uri`;
- an array (anything with `__array__`; numpy is imported only then) or `bytes`: sent inline;
- a STAC item (a dict with `"type": "Feature"` and a `self` link): referenced by its URL;
- a dict with `id` and `uri` or `data`: passed as it is.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

URI_SCHEMES = ("https://", "http://", "blob://")
MEDIA_TYPES = {".npy": "application/x-npy", ".tif": "image/tiff", ".tiff": "image/tiff"}
_ID_BAD = re.compile(r"[^A-Za-z0-9._\-]+")
MAX_ID = 128


@dataclass(frozen=True)
class Upload:
    """A local file still to upload; `item` is its input item once `uri` is known."""

    path: Path
    name: str
    item: dict[str, Any]


def plan(inputs: Iterable[Any]) -> list[dict[str, Any] | Upload]:
    """Each input as an API item, or as an `Upload` to do first; ids are unique within the run."""
    planned: list[dict[str, Any] | Upload] = []
    seen: set[str] = set()
    for index, given in enumerate(inputs):
        item_id, source = given if isinstance(given, tuple) and len(given) == 2 else (None, given)
        one = _one(source, index)
        item = one.item if isinstance(one, Upload) else one
        item["id"] = _unique(str(item_id) if item_id is not None else item.get("id") or f"input-{index}", seen)
        planned.append(one)
    return planned


def _one(source: Any, index: int) -> dict[str, Any] | Upload:
    if isinstance(source, Mapping):
        if source.get("type") == "Feature" and "assets" in source:
            href = next((link["href"] for link in source.get("links", []) if link.get("rel") == "self"), None)
            if not href:
                raise ValueError(f"input {index}: a STAC item is referenced by its `self` link, and this has none")
            return {"id": source.get("id"), "uri": href, "kind": "scene"}
        if "uri" not in source and "data" not in source:
            raise ValueError(f"input {index}: a dict input needs `uri` or `data`")
        return dict(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return {"data": base64.b64encode(bytes(source)).decode()}
    if hasattr(source, "__array__"):
        return {"data": base64.b64encode(_npy(source)).decode(), "media_type": "application/x-npy"}
    if isinstance(source, str) and source.startswith(URI_SCHEMES):
        stem = Path(urlsplit(source).path).stem or f"input-{index}"
        return {"id": stem, "uri": source}
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"input {index}: no file {path}")
        item: dict[str, Any] = {"id": path.stem}
        if media := MEDIA_TYPES.get(path.suffix.lower()):
            item["media_type"] = media
        # A fresh name per upload: a queued run must never see its input replaced by a later upload.
        return Upload(path=path, name=f"{uuid.uuid4().hex[:12]}-{_clean(path.name)}"[:255], item=item)
    raise TypeError(f"input {index}: cannot send a {type(source).__name__}")


def _npy(array: Any) -> bytes:
    import numpy  # only callers who pass arrays have numpy

    buffer = io.BytesIO()
    numpy.save(buffer, numpy.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _clean(text: str) -> str:
    cleaned = _ID_BAD.sub("-", text).lstrip("._-")
    return cleaned or "input"


def _unique(item_id: str, seen: set[str]) -> str:
    base = _clean(item_id)[: MAX_ID - 5]
    candidate, n = base, 1
    while candidate in seen:
        n += 1
        candidate = f"{base}-{n}"
    seen.add(candidate)
    return candidate
