"""`BodySizeLimit`: a pure ASGI middleware that refuses request bodies over a byte limit with 413.

A declared `Content-Length` over the limit is refused before anything is read; otherwise bytes
are counted as they stream, so a chunked upload cannot get past the limit by not declaring it.
Paths under a prefix of `per_prefix` (streamed uploads) have a limit of their own.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import MEDIA_TYPE, ProblemType, problem_body


class BodyTooLarge(Exception):
    """Raised into the app when the streamed body passes the limit."""


class BodySizeLimit:
    """Answers `413 request-too-large` to requests whose body exceeds `max_bytes`, or the limit
    `per_prefix` gives the paths under one of its prefixes."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, per_prefix: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_prefix = per_prefix or {}

    def limit_of(self, path: str) -> int:
        """The body limit of a request to `path`."""
        return next((limit for prefix, limit in self.per_prefix.items() if path.startswith(prefix)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_of(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(scope, send, max_bytes)
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the interrupted body, the answer is 413
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:  # the app may wrap `BodyTooLarge` in its own error; only ours is expected
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, send, max_bytes)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, max_bytes: int) -> None:
        kind = ProblemType.REQUEST_TOO_LARGE
        body = json.dumps(problem_body(
            kind, f"the request body is larger than the limit of {max_bytes} bytes", instance=scope["path"]
        )).encode()
        headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        await send({"type": "http.response.start", "status": int(kind.status), "headers": headers})
        await send({"type": "http.response.body", "body": body})
