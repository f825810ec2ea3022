"""`AsyncSwath`: the asyncio client, method for method the twin of `swath.client.sync.Swath`.

    async with AsyncSwath() as swath:
        run = await swath.runs.create("crop-classifier", ["tile.npy"], wait=True)
        async for event in swath.runs.stream(run.id): ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from swath.client import config, transport
from swath.client.downloads import CHUNK_BYTES, PartialFile
from swath.client.errors import RunFailedError, RunNotFinishedError, WaitTimeoutError
from swath.client.inputs import Upload, plan
from swath.client.retries import RetryPolicy
from swath.client.sse import EventParser
from swath.client.sync import BROKEN_STREAM, Progress, _ended, _redrive_filter
from swath.client.types import (
    Blob, BulkRedrive, DeadLetter, DeadLetterPage, ModelAlias, ModelList, ModelVersion, ModelVersionList, OutputOut, RegisteredModel,
    Run,
    RunEvent, RunPage, parse,
)


class AsyncSwath:
    """An asyncio client of one Swath API; arguments as `Swath`'s."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        profile: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: httpx.Timeout = transport.TIMEOUT,
    ) -> None:
        connection = config.resolve(base_url, api_key, profile=profile)
        self.base_url = connection.api_url
        self.retry = retry
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=transport.headers(connection.api_key), timeout=timeout
        )
        self._bare = httpx.AsyncClient(timeout=timeout, headers={"User-Agent": self._http.headers["User-Agent"]})
        self.runs = AsyncRuns(self)
        self.blobs = AsyncBlobs(self)
        self.dead_letters = AsyncDeadLetters(self)
        self.models = AsyncModels(self)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()
        await self._bare.aclose()

    async def __aenter__(self) -> AsyncSwath:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self, method: str, path: str, *, content: Callable[[], Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send one request, retried per the policy; `content` makes the body anew for each attempt."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(method, path, content=content() if content else None, **kwargs)
            except httpx.TransportError as err:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise transport.connection_error(self.base_url, err) from err
            else:
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    return response
            await asyncio.sleep(delay)
            attempt += 1

    @asynccontextmanager
    async def stream(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                     timeout: httpx.Timeout | None = None) -> AsyncIterator[httpx.Response]:
        """As `Swath.stream`."""
        client = self._http if transport.same_origin(url, self.base_url) else self._bare
        attempt = 0
        while True:
            request = client.build_request(method, url, headers=headers, timeout=timeout or self._http.timeout)
            try:
                response = await client.send(request, stream=True)
            except httpx.TransportError as err:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise transport.connection_error(self.base_url, err) from err
            else:
                if response.is_redirect and "location" in response.headers:
                    await response.aclose()
                    url = urljoin(str(request.url), response.headers["location"])
                    client = self._http if transport.same_origin(url, self.base_url) else self._bare
                    continue
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    try:
                        if response.is_error:
                            await response.aread()
                            raise transport.error_of(response)
                        yield response
                    finally:
                        await response.aclose()
                    return
                await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1


class AsyncRuns:
    """`/v1/runs`, as `swath.client.sync.Runs`."""

    def __init__(self, client: AsyncSwath) -> None:
        self._c = client

    async def create(
        self,
        model: str,
        inputs: Iterable[Any],
        *,
        params: dict[str, Any] | None = None,
        webhook: str | dict[str, Any] | None = None,
        deadline_seconds: int | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
        wait: bool | float = False,
        on_upload: Progress | None = None,
    ) -> Run:
        """As `Runs.create`."""
        items = []
        for one in plan(inputs):
            if isinstance(one, Upload):
                blob = await self._c.blobs.put(one.path, name=one.name, on_progress=on_upload)
                one = {**one.item, "uri": blob.uri}
            items.append(one)
        body: dict[str, Any] = {"model": model, "inputs": items, "params": params or {}}
        if deadline_seconds is not None:
            body["deadline_seconds"] = deadline_seconds
        if priority is not None:  # 1 (first) to 5 (last); 1 may need a scope
            body["priority"] = priority
        if webhook is not None:
            body["webhook"] = {"url": webhook} if isinstance(webhook, str) else webhook
        headers = {"Idempotency-Key": idempotency_key or transport.new_idempotency_key()}
        started = time.monotonic()
        if wait:
            headers |= transport.prefer_wait(transport.MAX_PREFER_WAIT_S if wait is True else wait)
        run = parse(Run, transport.body(await self._c.request("POST", "/v1/runs", json=body, headers=headers)))
        if not wait or run.finished:
            return run
        left = None if wait is True else max(0.0, float(wait) - (time.monotonic() - started))
        return await self.wait(run.id, timeout=left, raise_on_failure=False)

    async def get(self, run_id: str) -> Run:
        """One run."""
        return parse(Run, transport.body(await self._c.request("GET", f"/v1/runs/{run_id}")))

    async def list(self, *, status: str | None = None, limit: int = 20, cursor: str | None = None) -> RunPage:
        """One page of the caller's runs, newest first."""
        params = {"limit": limit} | ({"status": status} if status else {}) | ({"cursor": cursor} if cursor else {})
        return parse(RunPage, transport.body(await self._c.request("GET", "/v1/runs", params=params)))

    async def cancel(self, run_id: str) -> Run:
        """Ask a run to stop."""
        return parse(Run, transport.body(await self._c.request("POST", f"/v1/runs/{run_id}/cancel")))

    async def stream(self, run_id: str, *, last_event_id: str | None = None) -> AsyncIterator[RunEvent]:
        """The run's events until its `end` event, resumed after a broken connection."""
        async for event in self._events(run_id, last_event_id, transport.STREAM_READ_TIMEOUT_S):
            if event is not None:
                yield event

    async def wait(
        self, run_id: str, *, timeout: float | None = None, raise_on_failure: bool = True,
        on_event: Callable[[RunEvent], None] | None = None,
    ) -> Run:
        """As `Runs.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: RunEvent | None = None
        async for event in self._events(run_id, None, transport.STREAM_READ_TIMEOUT_S, deadline=deadline):
            if event is not None:
                last = event
                if on_event:
                    on_event(event)
                if event.event == "end":
                    return _ended(event.run, raise_on_failure)
            if deadline is not None and time.monotonic() >= deadline:
                break
        raise WaitTimeoutError(last.run if last else await self.get(run_id), timeout or 0)

    async def _events(
        self, run_id: str, last_id: str | None, read_timeout: float, *, deadline: float | None = None
    ) -> AsyncIterator[RunEvent | None]:
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"} | ({"Last-Event-ID": last_id} if last_id else {})
            wait = read_timeout if deadline is None else max(0.01, min(read_timeout, deadline - time.monotonic()))
            try:
                async with self._c.stream("GET", transport.events_path(run_id), headers=headers,
                                          timeout=httpx.Timeout(wait, connect=10.0)) as response:
                    parser = EventParser()
                    async for line in response.aiter_lines():
                        if line.startswith(":"):
                            yield None
                            continue
                        if (sent := parser.feed(line)) is None:
                            continue
                        failures, last_id = 0, sent.id or last_id
                        yield RunEvent(id=sent.id or "", event=sent.event, run=parse(Run, transport.run_json(sent.data)))
                        if sent.event == "end":
                            return
            except BROKEN_STREAM as err:
                failures += 1
                if isinstance(err, httpx.ReadTimeout):
                    yield None
                elif (delay := self._c.retry.delay(failures - 1, None)) is None:
                    raise transport.connection_error(self._c.base_url, err) from err
                else:
                    await asyncio.sleep(delay)

    async def download(
        self, run_id: str, folder: str | Path | None = None, *, on_progress: Progress | None = None
    ) -> list[Path]:
        """As `Runs.download`."""
        run = await self.get(run_id)
        if not run.finished:
            raise RunNotFinishedError(f"run {run_id} is {run.status}; its outputs come once it ends")
        if run.status != "complete" and not run.outputs:
            raise RunFailedError(run)
        folder = Path(folder) if folder is not None else Path(run_id)
        return [await self._download_one(output, folder, on_progress) for output in run.outputs]

    async def _download_one(self, output: OutputOut, folder: Path, on_progress: Progress | None) -> Path:
        part = PartialFile(folder, output)
        url = f"{output.download_url}?redirect=true"
        failures = 0
        while True:
            try:
                async with self._c.stream("GET", url, headers=part.range_header()) as response:
                    resumed = response.status_code == 206
                    done = part.offset if resumed else 0
                    part.open(resumed=resumed)
                    async for chunk in response.aiter_bytes(CHUNK_BYTES):
                        part.write(chunk)
                        done += len(chunk)
                        if on_progress:
                            on_progress(output.name, done, output.size)
                return part.finish()
            except BROKEN_STREAM as err:
                part.close()
                if (delay := self._c.retry.delay(failures, None)) is None:
                    raise transport.connection_error(self._c.base_url, err) from err
                failures += 1
                await asyncio.sleep(delay)
            finally:
                part.close()


class AsyncBlobs:
    """`/v1/blobs`, as `swath.client.sync.Blobs`."""

    def __init__(self, client: AsyncSwath) -> None:
        self._c = client

    async def put(
        self, source: str | Path | bytes, *, name: str | None = None, on_progress: Progress | None = None
    ) -> Blob:
        """Upload a file (streamed from disk) or bytes as `name` (default: the file's name)."""
        if isinstance(source, bytes):
            if not name:
                raise ValueError("bytes need a name")
            size, make = len(source), lambda: source
        else:
            path = Path(source)
            name, size = name or path.name, path.stat().st_size
            make = lambda: _file_chunks(path, name, size, on_progress)  # noqa: E731
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        response = await self._c.request("PUT", f"/v1/blobs/{name}", content=make, headers=headers)
        return parse(Blob, transport.body(response))


async def _file_chunks(path: Path, name: str, size: int, on_progress: Progress | None) -> AsyncIterator[bytes]:
    done = 0
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK_BYTES):
            done += len(chunk)
            yield chunk
            if on_progress:
                on_progress(name, done, size)


class AsyncDeadLetters:
    """`/v1/dead-letters`, as `swath.client.sync.DeadLetters`."""

    def __init__(self, client: AsyncSwath) -> None:
        self._c = client

    async def list(self, *, limit: int = 20, cursor: str | None = None) -> DeadLetterPage:
        """One page, newest first."""
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return parse(DeadLetterPage, transport.body(await self._c.request("GET", "/v1/dead-letters", params=params)))

    async def get(self, dead_letter_id: str) -> DeadLetter:
        """One dead letter."""
        return parse(DeadLetter, transport.body(await self._c.request("GET", f"/v1/dead-letters/{dead_letter_id}")))

    async def redrive(self, dead_letter_id: str) -> Run:
        """Start it again as a new run (the same run when redriven before)."""
        return parse(Run, transport.body(await self._c.request("POST", f"/v1/dead-letters/{dead_letter_id}/redrive")))

    async def redrive_all(
        self, *, code: str | None = None, model: str | None = None, since: datetime | str | None = None
    ) -> BulkRedrive:
        """Redrive every dead letter matching the filter, each once however often this is called."""
        body = _redrive_filter(code, model, since)
        response = await self._c.request("POST", "/v1/dead-letters/redrive", json=body)
        return parse(BulkRedrive, transport.body(response))


class AsyncModels:
    """`/v1/models`: the registered models, and what a version takes and gives."""

    def __init__(self, client) -> None:
        self._c = client

    async def list(self) -> ModelList:
        """The models the caller sees: shared ones and its tenant's own, with their aliases."""
        return parse(ModelList, transport.body(await self._c.request("GET", "/v1/models")))

    async def get(self, name: str) -> RegisteredModel:
        """One model, with its aliases."""
        return parse(RegisteredModel, transport.body(await self._c.request("GET", f"/v1/models/{name}")))

    async def versions(self, name: str) -> ModelVersionList:
        """A model's versions and their statuses, oldest first."""
        return parse(ModelVersionList, transport.body(await self._c.request("GET", f"/v1/models/{name}/versions")))

    async def version(self, name: str, version: str) -> ModelVersion:
        """One version: `validating`, `ready` or `rejected` (with the reason), and its manifest."""
        return parse(
            ModelVersion, transport.body(await self._c.request("GET", f"/v1/models/{name}/versions/{version}"))
        )

    async def create(
        self, name: str, *, task: str, description: str = "", visibility: str = "private"
    ) -> RegisteredModel:
        """Register a model: `private` to the caller's tenant, or `shared` (admins only)."""
        body = {"name": name, "task": task, "description": description, "visibility": visibility}
        return parse(RegisteredModel, transport.body(await self._c.request("POST", "/v1/models", json=body)))

    async def push(
        self, name: str, version: str, artefact: str | Path, manifest: dict[str, Any], *,
        wait: float | None = 300.0, on_progress: Progress | None = None,
    ) -> ModelVersion:
        """Upload `artefact` and push it with `manifest` as `version`; with `wait`, block (at most that many
        seconds) until the inference pool has validated it: `ready`, or `rejected` with the reason."""
        path = Path(artefact)
        upload = f"model-{name}-{version}-{path.name}"
        await self._c.blobs.put(path, name=upload, on_progress=on_progress)
        body = {"version": version, "artefact": upload, "manifest": manifest}
        pushed = parse(
            ModelVersion, transport.body(await self._c.request("POST", f"/v1/models/{name}/versions", json=body))
        )
        deadline = None if wait is None else time.monotonic() + wait
        while pushed.status == "validating" and deadline is not None and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            pushed = await self.version(name, version)
        return pushed

    async def alias(self, name: str, alias: str = "production") -> ModelAlias:
        """An alias and the versions it serves."""
        return parse(ModelAlias, transport.body(await self._c.request("GET", f"/v1/models/{name}/aliases/{alias}")))

    async def promote(
        self, name: str, version: str | None = None, *, alias: str = "production",
        targets: dict[str, float] | None = None, if_revision: int | None = None, warm: bool | None = None,
    ) -> ModelAlias:
        """Point `alias` at `version`, or at several versions by weight (`targets`, a canary:
        e.g. `{"1.0.0": 90, "1.1.0": 10}`); `if_revision` refuses the move if another was made since;
        `warm` marks the alias's versions to be loaded by every inference pool before they are
        asked for (left out: the alias keeps its mark)."""
        if (version is None) == (targets is None):
            raise ValueError("give a version or targets, not both")
        body: dict[str, Any] = (
            {"version": version} if version else {"targets": [{"version": v, "weight": w} for v, w in targets.items()]}
        )
        if warm is not None:
            body["warm"] = warm
        headers = {"If-Match": f'"{if_revision}"'} if if_revision is not None else {}
        response = await self._c.request("PUT", f"/v1/models/{name}/aliases/{alias}", json=body, headers=headers)
        return parse(ModelAlias, transport.body(response))

    async def rollback(self, name: str, *, alias: str = "production") -> ModelAlias:
        """Restore what the alias's last move replaced."""
        response = await self._c.request("POST", f"/v1/models/{name}/aliases/{alias}/rollback")
        return parse(ModelAlias, transport.body(response))
