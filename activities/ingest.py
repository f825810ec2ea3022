"""Ingest: fetch every input, decode and validate it, stage a float32 tensor in the blob store.

Scene inputs are not fetched whole: a scene already in the blob store is pinned for the run (a
local store's where it lies, an object store's by a server-side copy read by range:
`activities.scene_files`), an `https://` scene is first streamed into the blob store (through the
same guarded client, up to the scene size cap), and ingest only checks it (a raster, not
truncated, the model's bands present) and plans its blocks; the scene's own workflow reads the
blocks (`activities.scenes`).

Inputs are fetched concurrently, at most `fetch_concurrency` at a time, each bounded by its own
fetch timeout, while the activity heartbeats; so one slow URL delays only itself and never times
out the whole step. Asked to `record`, ingest also marks the run processing and stores the item
errors it found, so the run pays for one round trip instead of three.

Tiles are staged one blob per chunk (`swath.imagery.staged`): the decoded tiles wait in memory until
every input is decided, because which tiles share a chunk depends on which inputs failed; then the
staged ones are cut with `swath.domain.chunks.chunk_bounds` — the rule the workflow cuts its inference
chunks with — and each chunk is written as one batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import numpy as np
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from activities.band_scenes import BandInput, open_band_scene
from activities.scene_files import SceneFiles, inspect_remote_scene, open_scene
from swath.imagery.decoder import RasterDecoder
from swath.observe import metrics
from swath.blobstore import SCHEME, BlobStore, key_of
from swath.domain.chunks import chunk_bounds
from swath.domain.contracts import IngestRequest, IngestResult, InputRef, ItemError, StagedChunk, StagedScene
from swath.db import items, runs, scenes
from swath.db.retrying import with_write_retries
from swath.domain.errors import (
    BlobNotFoundError,
    BlobRangeError,
    ErrorType,
    InvalidBlobRefError,
    ItemErrorCode,
    ItemProblem,
    ModelNotFoundError,
    UrlRefusedError,
)
from swath.outbound.pinned_http import pinned_client
from swath.domain.redact import redact_url
from swath.models.registry import InputSpec, ModelManifest, ModelRegistry
from swath.imagery import stac_assets
from swath.imagery.staged import batch_key, encode_batch
from swath.temporal.catalog import INGEST_INPUTS
from swath.imagery.tiles import decode_tile
from swath.observe.tracing import annotate
from swath.outbound.urlguard import UrlGuard
from swath.domain.status import InputKind

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
#: Fetching a tile must not hang a worker slot.
FETCH_TIMEOUT_S = 30.0
#: Inputs of one run fetched at the same time, at most.
FETCH_CONCURRENCY = 8
#: Inputs are asked for undecoded, so the size cap is on the bytes that really arrive.
FETCH_HEADERS = {"Accept-Encoding": "identity"}
#: Content-Encodings a server may still answer with, and the `zlib` window bits that decode them.
_DECODABLE_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True)
class _DecodedTile:
    """A tile fetched and decoded, waiting for its chunk to be written."""

    id: str
    position: int
    tensor: np.ndarray


class IngestActivities:
    """Stages inputs for inference; every bad item becomes an `ItemError`, not a failure.

    Input URLs are fetched only through a client pinned to `guard` (built here, so no other
    client can be slipped in); close it with `aclose`.
    """

    def __init__(
        self,
        *,
        blobs: BlobStore,
        registry: ModelRegistry,
        guard: UrlGuard,
        max_item_bytes: int,
        db: asyncpg.Pool | None = None,
        fetch_timeout_s: float = FETCH_TIMEOUT_S,
        fetch_concurrency: int = FETCH_CONCURRENCY,
        scene_files: SceneFiles | None = None,
        scene_decoder: RasterDecoder | None = None,
    ) -> None:
        """`db` is needed for requests that ask to `record`; `scene_files` and `scene_decoder` for scene
        inputs (by default a cache under the temporary directory and a decoder with default limits)."""
        self.blobs = blobs
        self.http = pinned_client(guard, timeout_s=fetch_timeout_s, headers=FETCH_HEADERS)
        self.scene_decoder = scene_decoder or RasterDecoder()
        self.scene_files = scene_files or SceneFiles(
            blobs, Path(tempfile.gettempdir()) / "swath-scenes", http=self.http,
            max_remote_bytes=self.scene_decoder.limits.max_bytes,
        )
        self.max_scene_bytes = self.scene_decoder.limits.max_bytes
        self.registry = registry
        self.guard = guard
        self.max_item_bytes = max_item_bytes
        self.db = db
        self.fetch_concurrency = fetch_concurrency

    async def aclose(self) -> None:
        """Close the HTTP client and stop the decoder's processes."""
        await self.http.aclose()
        await self.scene_decoder.aclose()

    @INGEST_INPUTS.implementation
    async def ingest_inputs(self, req: IngestRequest) -> IngestResult:
        """Stage the tiles one batch blob per chunk (`staged/<run>/batches/<sha256>.npy`), plan the scenes."""
        annotate(run_id=req.run_id, tenant=req.tenant or None, model=req.model, batch_size=len(req.inputs))
        try:
            manifest = await self.registry.lookup(req.model)
        except ModelNotFoundError as err:
            raise ApplicationError(str(err), type=ErrorType.MODEL_NOT_FOUND, non_retryable=True) from None
        run_id = UUID(req.run_id)
        async with heartbeating():
            if req.record:
                await self._write(req, lambda c: runs.mark_processing(c, run_id=run_id, items_total=len(req.inputs)))
            gate = asyncio.Semaphore(self.fetch_concurrency)
            done = 0

            async def stage(position: int, item: InputRef) -> _DecodedTile | StagedScene | ItemError:
                nonlocal done
                async with gate:
                    try:
                        if item.kind == InputKind.SCENE:
                            staged = await self.open_scene_input(req, position, item, manifest)
                        else:
                            staged = await self._decode(position, item, manifest.input)
                        metrics.INGEST_ITEMS.labels("staged").inc()
                        return staged
                    except ItemProblem as problem:
                        metrics.INGEST_ITEMS.labels(problem.code.value).inc()
                        return ItemError(id=item.id, code=problem.code, message=problem.message)
                    finally:
                        done += 1
                        activity.heartbeat(done)

            outcomes = await asyncio.gather(*(stage(n, item) for n, item in enumerate(req.inputs)))
            chunks = await self._write_batches(req, [o for o in outcomes if isinstance(o, _DecodedTile)])
            staged_scenes = [o for o in outcomes if isinstance(o, StagedScene)]
            errors = [o for o in outcomes if isinstance(o, ItemError)]
            if req.record and errors:
                positions = {item.id: n for n, item in enumerate(req.inputs)}
                await self._write(req, lambda c: _store_item_errors(c, run_id, errors, positions))
            if req.record and staged_scenes:
                windows = sum(s.windows for s in staged_scenes)
                await self._write(req, lambda c: scenes.add_windows_total(c, run_id=run_id, windows=windows))
        if req.chunked:
            return IngestResult(staged=[], errors=errors, scenes=staged_scenes, chunks=chunks)
        staged = [item for chunk in chunks for item in chunk.items()]
        return IngestResult(staged=staged, errors=errors, scenes=staged_scenes)

    async def _write(self, req: IngestRequest, write) -> None:
        assert self.db is not None, "recording needs a database pool"

        async def once() -> None:
            async with self.db.acquire() as conn, conn.transaction():
                await write(conn)

        await with_write_retries(once, what=f"ingest of run {req.run_id}")

    async def _decode(self, position: int, item: InputRef, spec: InputSpec) -> _DecodedTile:
        data = await self._fetch(await self._full_uri(item))
        metrics.INGEST_BYTES.inc(len(data))
        return _DecodedTile(item.id, position, decode_tile(data, item.media_type, spec, max_bytes=self.max_item_bytes))

    async def _write_batches(self, req: IngestRequest, tiles: list[_DecodedTile]) -> list[StagedChunk]:
        """One blob per chunk of the staged tiles (in submission order), written concurrently."""

        async def write(chunk: list[_DecodedTile]) -> StagedChunk:
            data = await asyncio.to_thread(encode_batch, [tile.tensor for tile in chunk])
            ref = await self.blobs.put(batch_key(req.run_id, data), data)
            return StagedChunk(ref, [t.id for t in chunk], [t.position for t in chunk])

        chunks = [tiles[bounds.start : bounds.stop] for bounds in chunk_bounds(len(tiles), req.chunk_size)]
        return list(await asyncio.gather(*(write(chunk) for chunk in chunks)))

    async def open_scene_input(
        self, req: IngestRequest, position: int, item: InputRef, manifest: ModelManifest, *, planning: bool = False
    ) -> StagedScene:
        """Check a scene and plan its blocks; an `https://` scene is streamed into the blob store first.

        A scene given as a STAC item or as one file per band is opened band by band where its files lie
        (`activities.band_scenes`): remote bands are read by range, only the blocks the run maps.
        `planning` (an estimate, `activities.planning`) opens an `https://` scene from its structure,
        read by range, instead of copying it.
        """
        if item.stac_item or item.bands:
            return await self._stage_band_scene(req, position, item, manifest, planning=planning)
        uri = await self._full_uri(item)
        if planning and not uri.startswith(SCHEME):
            scene, _ = await inspect_remote_scene(
                self.scene_files, self.scene_decoder, url=uri, run_id=req.run_id, item_id=item.id,
                position=position, manifest=manifest, block_size=req.scene_block_size,
            )
            return scene
        if uri.startswith(SCHEME):
            ref = uri
        else:
            key = f"staged/{req.run_id}/scenes/{position}/source"
            ref = await self._with_url(uri, lambda response: self._copy_capped(response, key))
        return await open_scene(
            self.scene_files, self.scene_decoder, ref=ref, run_id=req.run_id, item_id=item.id, position=position,
            manifest=manifest, block_size=req.scene_block_size, planning=planning,
        )

    async def _stage_band_scene(
        self, req: IngestRequest, position: int, item: InputRef, manifest: ModelManifest, *, planning: bool = False
    ) -> StagedScene:
        wanted = manifest.input.bands
        ref = ""
        if item.stac_item:
            location = await self._full_uri(item)
            try:
                raw = json.loads(await self._fetch(location))
            except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the parser's depth
                raise ItemProblem(ItemErrorCode.INVALID_STAC_ITEM, "the STAC item is not JSON") from None
            base = None if location.startswith(SCHEME) else location
            stac = stac_assets.parse_item(raw, self_href=base)
            matched = stac_assets.match_bands(
                stac, wanted, manifest_scale=manifest.input.scale, overrides=item.band_assets, base_href=base
            )
            bands = [
                BandInput(m.band, _asset_uri(m.href, req.tenant, m.band), m.index, m.nodata, m.gain, m.bias)
                for m in matched
            ]
            ref = item.uri
        else:
            given = {name.lower(): uri for name, uri in item.bands.items()}
            missing = [band for band in wanted if band.lower() not in given]
            if missing:
                raise ItemProblem(
                    ItemErrorCode.MISSING_BANDS,
                    f"no file for bands {', '.join(missing)} (given: {', '.join(item.bands) or 'none'})",
                )
            bands = [BandInput(band, given[band.lower()]) for band in wanted]
        return await open_band_scene(
            self.scene_files, self.scene_decoder, bands=bands, run_id=req.run_id, item_id=item.id,
            position=position, manifest=manifest, block_size=req.scene_block_size, resolution=item.resolution,
            aoi=item.aoi, aoi_crs=item.aoi_crs, ref=ref, planning=planning,
        )

    async def _copy_capped(self, response: httpx.Response, key: str) -> str:
        """Stream an undecoded body into the blob store, refused past the scene size cap."""
        limit = self.max_scene_bytes
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ItemProblem(ItemErrorCode.UNSUPPORTED_MEDIA_TYPE, "scenes must be sent without Content-Encoding")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ItemProblem(ItemErrorCode.TOO_LARGE, f"the scene is larger than the limit of {limit} bytes")

        async def capped():
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > limit:
                    raise ItemProblem(ItemErrorCode.TOO_LARGE, f"the scene is larger than the limit of {limit} bytes")
                yield chunk

        return await self.blobs.put_stream(key, capped())

    async def _full_uri(self, item: InputRef) -> str:
        """The URI to fetch: a URL that carries a secret is kept out of the payload, in the blob store."""
        if item.url_ref is None:
            return item.uri
        try:
            return (await self.blobs.get(item.url_ref)).decode()
        except (BlobNotFoundError, InvalidBlobRefError, UnicodeDecodeError):
            raise ItemProblem(ItemErrorCode.NOT_FOUND, f"the URL of {item.uri} is no longer stored") from None

    async def _fetch(self, uri: str) -> bytes:
        if uri.startswith(SCHEME):
            try:
                return await self._read_blob_capped(uri)
            except BlobNotFoundError:
                raise ItemProblem(ItemErrorCode.NOT_FOUND, f"no blob at {uri}") from None
            except InvalidBlobRefError as err:
                raise ItemProblem(ItemErrorCode.NOT_FOUND, str(err)) from None
        return await self._fetch_url(uri)

    async def _read_blob_capped(self, ref: str) -> bytes:
        """A tile in the blob store, its size checked before a byte is read.

        A tenant's upload may be gigabytes; read whole and then refused, eight at a time, it would
        take the pool's memory. The read itself is a range up to the cap, so a blob replaced by a
        larger one between the two calls is still never read past it.
        """
        limit = self.max_item_bytes
        size = await self.blobs.size(ref)
        if size > limit:
            raise ItemProblem(ItemErrorCode.TOO_LARGE, f"tile is {size} bytes; the limit is {limit}")
        if size == 0:
            return b""
        try:
            return await self.blobs.get_range(ref, 0, limit + 1)
        except BlobRangeError:  # emptied since its size was read
            return b""

    async def _fetch_url(self, url: str) -> bytes:
        """GET through the pinned client, the body read up to the size cap."""
        return await self._with_url(url, self._read_capped)

    async def _with_url(self, url: str, consume):
        """GET through the pinned client, each redirect hop checked again, and `consume` the answer.

        A network error becomes an item error rather than an activity retry: re-running the whole
        ingest for one unreachable host would only delay every other item of the run. Messages
        carry the URL redacted and fixed wording; the details go to the worker log.
        """
        for _ in range(MAX_REDIRECTS + 1):
            shown = redact_url(url)
            try:
                async with self.http.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    if response.status_code != 200:
                        raise ItemProblem(
                            ItemErrorCode.FETCH_FAILED, f"GET {shown} answered HTTP {response.status_code}"
                        )
                    return await consume(response)
            except UrlRefusedError as err:
                log.info("refused input URL %s: %s", shown, err.detail)
                raise ItemProblem(ItemErrorCode.URL_REFUSED, f"GET {shown} refused: {err}") from None
            except httpx.InvalidURL as err:
                log.info("malformed input URL %s: %s", shown, err)
                raise ItemProblem(ItemErrorCode.URL_REFUSED, f"GET {shown} refused: the URL is malformed") from None
            except httpx.TimeoutException as err:
                log.info("input URL %s timed out: %r", shown, err)
                raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {shown} timed out") from None
            except httpx.HTTPError as err:
                log.info("input URL %s failed: %r", shown, err)
                raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {shown}: connection failed") from None
        raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"more than {MAX_REDIRECTS} redirects")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """The body as sent, or decoded with the same cap if the server compressed it anyway."""
        limit = self.max_item_bytes
        too_large = ItemProblem(ItemErrorCode.TOO_LARGE, f"tile is larger than the limit of {limit} bytes")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity") and encoding not in _DECODABLE_ENCODINGS:
            raise ItemProblem(
                ItemErrorCode.UNSUPPORTED_MEDIA_TYPE, f"Content-Encoding {encoding[:32]!r} is not supported"
            )
        decoder = zlib.decompressobj(_DECODABLE_ENCODINGS[encoding]) if encoding in _DECODABLE_ENCODINGS else None
        body = bytearray()
        try:
            async for chunk in response.aiter_raw():
                if decoder is not None:
                    chunk = decoder.decompress(chunk, limit + 1 - len(body))
                    if decoder.unconsumed_tail:  # more output is waiting than the cap allows
                        raise too_large
                body += chunk
                if len(body) > limit:
                    raise too_large
        except zlib.error:
            raise ItemProblem(ItemErrorCode.UNDECODABLE, f"body is not valid {encoding}") from None
        return bytes(body)


def _asset_uri(href: str, tenant: str, band: str) -> str:
    """A STAC asset's location, if it is one ingest may read: an `http(s)://` URL (the guard checks it
    when it is fetched) or a blob of the run's own tenant."""
    scheme = href.split(":", 1)[0].lower() if ":" in href else ""
    if scheme in ("http", "https"):
        return href
    if href.startswith(SCHEME) and tenant:
        try:
            if key_of(href).startswith(f"tenants/{tenant}/"):
                return href
        except InvalidBlobRefError:
            pass
    raise ItemProblem(
        ItemErrorCode.URL_REFUSED,
        f"band {band}: the asset {redact_url(href)} is neither an http(s) URL nor a blob of this tenant",
    )


async def _store_item_errors(
    conn: asyncpg.Connection, run_id: UUID, errors: list[ItemError], positions: dict[str, int]
) -> None:
    await items.insert_item_errors(conn, run_id=run_id, errors=errors, positions=positions)
    await runs.refresh_progress(conn, run_id=run_id)
