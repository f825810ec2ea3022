"""A loopback webhook receiver: a tiny ASGI app on 127.0.0.1 that records every request and
answers from a script (status and headers per request, then 200)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import uvicorn

from swath.embedded.ports import free_port


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it, and what it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int


@dataclass
class Receiver:
    """Serve with `async with Receiver() as r:`; each test takes its own path from `r.path()`."""

    port: int = field(default_factory=free_port)
    requests: dict[str, list[Received]] = field(default_factory=lambda: defaultdict(list))
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=lambda: defaultdict(list))

    def path(self, *responses: int | tuple[int, dict[str, str]]) -> str:
        """A fresh path answering `responses` in turn (a status, or status and headers), then 200."""
        path = f"/hook/{uuid.uuid4().hex}"
        self.script(path, *responses)
        return path

    def script(self, path: str, *responses: int | tuple[int, dict[str, str]]) -> None:
        """Replace what `path` answers next."""
        self.scripts[path] = [r if isinstance(r, tuple) else (r, {}) for r in responses]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted_ids(self, path: str) -> list[str]:
        """The `webhook-id` of every request answered with a 2xx (a receiver dedupes by these)."""
        return [r.headers["webhook-id"] for r in self.requests[path] if 200 <= r.status < 300]

    async def wait_for(self, path: str, count: int, timeout: float = 60) -> list[Received]:
        """Wait until `path` has received `count` requests."""
        deadline = time.monotonic() + timeout
        while len(self.requests[path]) < count:
            assert time.monotonic() < deadline, f"{path} got {len(self.requests[path])} of {count} requests"
            await asyncio.sleep(0.05)
        return self.requests[path]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        script = self.scripts[path]
        status, headers = script.pop(0) if script else (200, {})
        self.requests[path].append(
            Received(
                path, {k.decode().lower(): v.decode() for k, v in scope["headers"]}, body, time.monotonic(), status
            )
        )
        raw_headers = [(b"content-type", b"text/plain")] + [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": f"answered {status}".encode()})

    async def __aenter__(self) -> Receiver:
        self._server = uvicorn.Server(uvicorn.Config(self, host="127.0.0.1", port=self.port, log_level="warning"))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task
