"""`Swath`: the blocking client (`AsyncSwath` in `swath.client.aio` is its asyncio twin).

    from swath.client import Swath

    swath = Swath("http://127.0.0.1:8000", api_key)       # or Swath(): $SWATH_API_URL, $SWATH_API_KEY
    run = swath.runs.create("crop-classifier", ["tile.npy"], wait=True)
    print(run.result.items)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
from swath.client.types import (
    Blob, BulkRedrive, DeadLetter, DeadLetterPage, ModelAlias, ModelList, ModelVersion, ModelVersionList, OutputOut, RegisteredModel,
    Run,
    RunEvent, RunPage, parse,
)

#: `on_progress(name, bytes_done, bytes_total)`: called as an upload or a download advances.
Progress = Callable[[str, int, int], None]
#: Errors that break a stream mid-way; the client reconnects (events) or resumes (downloads).
BROKEN_STREAM = (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError)


class Swath:
    """A client of one Swath API. `base_url` and `api_key` default as `swath.client.config` says."""

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
        self._http = httpx.Client(base_url=self.base_url, headers=transport.headers(connection.api_key), timeout=timeout)
        #: For URLs off the API's origin (presigned downloads): never sent the key.
        self._bare = httpx.Client(timeout=timeout, headers={"User-Agent": self._http.headers["User-Agent"]})
        self.runs = Runs(self)
        self.blobs = Blobs(self)
        self.dead_letters = DeadLetters(self)
        self.models = Models(self)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()
        self._bare.close()

    def __enter__(self) -> Swath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, content: Callable[[], Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send one request, retried per the policy; `content` makes the body anew for each attempt."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, content=content() if content else None, **kwargs)
            except httpx.TransportError as err:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise transport.connection_error(self.base_url, err) from err
            else:
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    return response
            time.sleep(delay)
            attempt += 1

    @contextmanager
    def stream(self, method: str, url: str, *, headers: dict[str, str] | None = None,
               timeout: httpx.Timeout | None = None) -> Iterator[httpx.Response]:
        """An answer whose body is read as it comes; a redirect off the API's origin is followed
        without the key. Only the opening is retried; error answers raise."""
        client = self._http if transport.same_origin(url, self.base_url) else self._bare
        attempt = 0
        while True:
            request = client.build_request(method, url, headers=headers, timeout=timeout or self._http.timeout)
            try:
                response = client.send(request, stream=True)
            except httpx.TransportError as err:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise transport.connection_error(self.base_url, err) from err
            else:
                if response.is_redirect and "location" in response.headers:
                    response.close()
                    url = urljoin(str(request.url), response.headers["location"])
                    client = self._http if transport.same_origin(url, self.base_url) else self._bare
                    continue
                delay = self.retry.delay(attempt, response)
                if delay is None:
                    try:
                        if response.is_error:
                            response.read()
                            raise transport.error_of(response)
                        yield response
                    finally:
                        response.close()
                    return
                response.close()
            time.sleep(delay)
            attempt += 1


class Runs:
    """`/v1/runs`: create, read, list, cancel, follow and download runs."""

    def __init__(self, client: Swath) -> None:
        self._c = client

    def create(
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
        """Submit a run (see `swath.client.inputs` for what `inputs` may hold; local files are
        uploaded first). `wait`: `True` to return once it ended, a number of seconds to wait at
        most that long (`WaitTimeoutError` after). A run that ends failed is returned, not raised."""
        items = []
        for one in plan(inputs):
            if isinstance(one, Upload):
                blob = self._c.blobs.put(one.path, name=one.name, on_progress=on_upload)
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
        run = parse(Run, transport.body(self._c.request("POST", "/v1/runs", json=body, headers=headers)))
        if not wait or run.finished:
            return run
        left = None if wait is True else max(0.0, float(wait) - (time.monotonic() - started))
        return self.wait(run.id, timeout=left, raise_on_failure=False)

    def get(self, run_id: str) -> Run:
        """One run, with its result once complete and its outputs."""
        return parse(Run, transport.body(self._c.request("GET", f"/v1/runs/{run_id}")))

    def list(self, *, status: str | None = None, limit: int = 20, cursor: str | None = None) -> RunPage:
        """One page of the caller's runs, newest first."""
        params = {"limit": limit} | ({"status": status} if status else {}) | ({"cursor": cursor} if cursor else {})
        return parse(RunPage, transport.body(self._c.request("GET", "/v1/runs", params=params)))

    def iter(self, *, status: str | None = None, page_size: int = 100) -> Iterator[Run]:
        """Every run of the caller, newest first, page after page."""
        cursor = None
        while True:
            page = self.list(status=status, limit=page_size, cursor=cursor)
            yield from page.items
            if not (cursor := page.next_cursor):
                return

    def cancel(self, run_id: str) -> Run:
        """Ask a queued or processing run to stop (`ConflictError` when it already ended)."""
        return parse(Run, transport.body(self._c.request("POST", f"/v1/runs/{run_id}/cancel")))

    def stream(self, run_id: str, *, last_event_id: str | None = None) -> Iterator[RunEvent]:
        """The run's events as they happen, until its `end` event; a broken connection is resumed
        after the last event seen (`Last-Event-ID`)."""
        for event in self._events(run_id, last_event_id, transport.STREAM_READ_TIMEOUT_S):
            if event is not None:
                yield event

    def wait(
        self, run_id: str, *, timeout: float | None = None, raise_on_failure: bool = True,
        on_event: Callable[[RunEvent], None] | None = None,
    ) -> Run:
        """Block until the run ends (`WaitTimeoutError` after `timeout` s); a failed or canceled
        run raises `RunFailedError` unless `raise_on_failure` is false."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: RunEvent | None = None
        for event in self._events(run_id, None, transport.STREAM_READ_TIMEOUT_S, deadline=deadline):
            if event is not None:
                last = event
                if on_event:
                    on_event(event)
                if event.event == "end":
                    return _ended(event.run, raise_on_failure)
            if deadline is not None and time.monotonic() >= deadline:
                break
        raise WaitTimeoutError(last.run if last else self.get(run_id), timeout or 0)

    def _events(
        self, run_id: str, last_id: str | None, read_timeout: float, *, deadline: float | None = None
    ) -> Iterator[RunEvent | None]:
        """Events, and `None` at each keep-alive or read timeout (a chance to look at the clock)."""
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"} | ({"Last-Event-ID": last_id} if last_id else {})
            wait = read_timeout if deadline is None else max(0.01, min(read_timeout, deadline - time.monotonic()))
            try:
                with self._c.stream("GET", transport.events_path(run_id), headers=headers,
                                    timeout=httpx.Timeout(wait, connect=10.0)) as response:
                    parser = EventParser()
                    for line in response.iter_lines():
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
                    time.sleep(delay)

    def download(self, run_id: str, folder: str | Path | None = None, *, on_progress: Progress | None = None) -> list[Path]:
        """Every output of an ended run into `folder` (default `./<run_id>`), each checked against
        its sha256, readable by its owner only; an interrupted file resumes where it stopped."""
        run = self.get(run_id)
        if not run.finished:
            raise RunNotFinishedError(f"run {run_id} is {run.status}; its outputs come once it ends")
        if run.status != "complete" and not run.outputs:
            raise RunFailedError(run)
        folder = Path(folder) if folder is not None else Path(run_id)
        return [self._download_one(output, folder, on_progress) for output in run.outputs]

    def _download_one(self, output: OutputOut, folder: Path, on_progress: Progress | None) -> Path:
        part = PartialFile(folder, output)
        url = f"{output.download_url}?redirect=true"
        failures = 0
        while True:
            try:
                with self._c.stream("GET", url, headers=part.range_header()) as response:
                    resumed = response.status_code == 206
                    done = part.offset if resumed else 0
                    part.open(resumed=resumed)
                    for chunk in response.iter_bytes(CHUNK_BYTES):
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
                time.sleep(delay)
            finally:
                part.close()


class Blobs:
    """`/v1/blobs`: uploads, streamed, usable as run inputs by their `uri`."""

    def __init__(self, client: Swath) -> None:
        self._c = client

    def put(self, source: str | Path | bytes, *, name: str | None = None, on_progress: Progress | None = None) -> Blob:
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
        return parse(Blob, transport.body(self._c.request("PUT", f"/v1/blobs/{name}", content=make, headers=headers)))


def _file_chunks(path: Path, name: str, size: int, on_progress: Progress | None) -> Iterator[bytes]:
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            done += len(chunk)
            yield chunk
            if on_progress:
                on_progress(name, done, size)


class DeadLetters:
    """`/v1/dead-letters`: runs that exhausted their retries; redrive one, or every match of a filter."""

    def __init__(self, client: Swath) -> None:
        self._c = client

    def list(self, *, limit: int = 20, cursor: str | None = None) -> DeadLetterPage:
        """One page, newest first."""
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return parse(DeadLetterPage, transport.body(self._c.request("GET", "/v1/dead-letters", params=params)))

    def get(self, dead_letter_id: str) -> DeadLetter:
        """One dead letter."""
        return parse(DeadLetter, transport.body(self._c.request("GET", f"/v1/dead-letters/{dead_letter_id}")))

    def redrive(self, dead_letter_id: str) -> Run:
        """Start it again as a new run (the same run when redriven before)."""
        path = f"/v1/dead-letters/{dead_letter_id}/redrive"
        return parse(Run, transport.body(self._c.request("POST", path)))

    def redrive_all(
        self, *, code: str | None = None, model: str | None = None, since: datetime | str | None = None
    ) -> BulkRedrive:
        """Redrive every dead letter matching the filter, each once however often this is called."""
        body = _redrive_filter(code, model, since)
        return parse(BulkRedrive, transport.body(self._c.request("POST", "/v1/dead-letters/redrive", json=body)))


def _redrive_filter(code: str | None, model: str | None, since: datetime | str | None) -> dict[str, Any]:
    since = since.isoformat() if isinstance(since, datetime) else since
    return {k: v for k, v in {"code": code, "model": model, "since": since}.items() if v is not None}


def _ended(run: Run, raise_on_failure: bool) -> Run:
    if raise_on_failure and run.status != "complete":
        raise RunFailedError(run)
    return run


class Models:
    """`/v1/models`: the registered models, and what a version takes and gives."""

    def __init__(self, client) -> None:
        self._c = client

    def list(self) -> ModelList:
        """The models the caller sees: shared ones and its tenant's own, with their aliases."""
        return parse(ModelList, transport.body(self._c.request("GET", "/v1/models")))

    def get(self, name: str) -> RegisteredModel:
        """One model, with its aliases."""
        return parse(RegisteredModel, transport.body(self._c.request("GET", f"/v1/models/{name}")))

    def versions(self, name: str) -> ModelVersionList:
        """A model's versions and their statuses, oldest first."""
        return parse(ModelVersionList, transport.body(self._c.request("GET", f"/v1/models/{name}/versions")))

    def version(self, name: str, version: str) -> ModelVersion:
        """One version: `validating`, `ready` or `rejected` (with the reason), and its manifest."""
        return parse(
            ModelVersion, transport.body(self._c.request("GET", f"/v1/models/{name}/versions/{version}"))
        )

    def create(
        self, name: str, *, task: str, description: str = "", visibility: str = "private"
    ) -> RegisteredModel:
        """Register a model: `private` to the caller's tenant, or `shared` (admins only)."""
        body = {"name": name, "task": task, "description": description, "visibility": visibility}
        return parse(RegisteredModel, transport.body(self._c.request("POST", "/v1/models", json=body)))

    def push(
        self, name: str, version: str, artefact: str | Path, manifest: dict[str, Any], *,
        wait: float | None = 300.0, on_progress: Progress | None = None,
    ) -> ModelVersion:
        """Upload `artefact` and push it with `manifest` as `version`; with `wait`, block (at most that many
        seconds) until the inference pool has validated it: `ready`, or `rejected` with the reason."""
        path = Path(artefact)
        upload = f"model-{name}-{version}-{path.name}"
        self._c.blobs.put(path, name=upload, on_progress=on_progress)
        body = {"version": version, "artefact": upload, "manifest": manifest}
        pushed = parse(
            ModelVersion, transport.body(self._c.request("POST", f"/v1/models/{name}/versions", json=body))
        )
        deadline = None if wait is None else time.monotonic() + wait
        while pushed.status == "validating" and deadline is not None and time.monotonic() < deadline:
            time.sleep(1.0)
            pushed = self.version(name, version)
        return pushed

    def alias(self, name: str, alias: str = "production") -> ModelAlias:
        """An alias and the versions it serves."""
        return parse(ModelAlias, transport.body(self._c.request("GET", f"/v1/models/{name}/aliases/{alias}")))

    def promote(
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
        response = self._c.request("PUT", f"/v1/models/{name}/aliases/{alias}", json=body, headers=headers)
        return parse(ModelAlias, transport.body(response))

    def rollback(self, name: str, *, alias: str = "production") -> ModelAlias:
        """Restore what the alias's last move replaced."""
        response = self._c.request("POST", f"/v1/models/{name}/aliases/{alias}/rollback")
        return parse(ModelAlias, transport.body(response))
