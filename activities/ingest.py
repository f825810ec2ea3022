"""Ingest: fetch every input, decode and validate it, stage a float32 tensor in the blob store."""

from __future__ import annotations

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from swath.blobstore import BlobNotFoundError, BlobStore, InvalidBlobRefError, SCHEME
from swath.contracts import IngestRequest, IngestResult, InputRef, ItemError, StagedItem
from swath.errors import ErrorType, ItemErrorCode, ItemProblem, ModelNotFoundError
from swath.registry import InputSpec, ModelRegistry
from swath.tiles import decode_tile, encode_tensor
from swath.urlguard import UrlGuard, UrlRefusedError

MAX_REDIRECTS = 3


class IngestActivities:
    """Stages inputs for inference; every bad item becomes an `ItemError`, not a failure."""

    def __init__(
        self, *, blobs: BlobStore, registry: ModelRegistry, http: httpx.AsyncClient, guard: UrlGuard, max_item_bytes: int
    ) -> None:
        self.blobs = blobs
        self.registry = registry
        self.http = http
        self.guard = guard
        self.max_item_bytes = max_item_bytes

    @activity.defn(name="ingest_inputs")
    async def ingest_inputs(self, req: IngestRequest) -> IngestResult:
        """Stage each input as `staged/<run>/<item>.npy`; rewriting a key on retry is harmless."""
        try:
            spec = self.registry.resolve(req.model).input
        except ModelNotFoundError as err:
            raise ApplicationError(str(err), type=ErrorType.MODEL_NOT_FOUND, non_retryable=True) from None
        staged: list[StagedItem] = []
        errors: list[ItemError] = []
        for n, item in enumerate(req.inputs):
            activity.heartbeat(n)
            try:
                staged.append(await self._stage(req.run_id, item, spec))
            except ItemProblem as problem:
                errors.append(ItemError(id=item.id, code=problem.code, message=problem.message))
        return IngestResult(staged=staged, errors=errors)

    async def _stage(self, run_id: str, item: InputRef, spec: InputSpec) -> StagedItem:
        data = await self._fetch(item.uri)
        tensor = decode_tile(data, item.media_type, spec, max_bytes=self.max_item_bytes)
        ref = await self.blobs.put(f"staged/{run_id}/{item.id}.npy", encode_tensor(tensor))
        return StagedItem(id=item.id, tensor_ref=ref)

    async def _fetch(self, uri: str) -> bytes:
        if uri.startswith(SCHEME):
            try:
                return await self.blobs.get(uri)
            except BlobNotFoundError:
                raise ItemProblem(ItemErrorCode.NOT_FOUND, f"no blob at {uri}") from None
            except InvalidBlobRefError as err:
                raise ItemProblem(ItemErrorCode.NOT_FOUND, str(err)) from None
        return await self._fetch_url(uri)

    async def _fetch_url(self, url: str) -> bytes:
        """GET with the SSRF guard re-checked on every hop and the body read up to the size cap.

        A network error becomes an item error rather than an activity retry: re-running the whole
        ingest for one unreachable host would only delay every other item of the run.
        """
        for _ in range(MAX_REDIRECTS + 1):
            try:
                await self.guard.check(url)
            except UrlRefusedError as err:
                raise ItemProblem(ItemErrorCode.URL_REFUSED, str(err)) from None
            try:
                async with self.http.stream("GET", url, follow_redirects=False) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    if response.status_code != 200:
                        raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {url} answered {response.status_code}")
                    return await self._read_capped(response)
            except httpx.HTTPError as err:
                raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"GET {url} failed: {err!r}") from None
        raise ItemProblem(ItemErrorCode.FETCH_FAILED, f"more than {MAX_REDIRECTS} redirects")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.max_item_bytes:
                raise ItemProblem(
                    ItemErrorCode.TOO_LARGE, f"tile is larger than the limit of {self.max_item_bytes} bytes"
                )
        return bytes(body)
