"""A plain HTTP server on a loopback thread, for tests that need a real remote to fetch from."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that answers with `answer()` and logs nothing."""

    def answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1") -> Iterator[int]:
    """Serve `handler` on `host` (loopback) in a thread; yields the port."""
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class FileServer:
    """What `serving_files` serves (path → bytes), and every GET it answered: (path, first, last byte)."""

    def __init__(self, files: dict[str, bytes], *, ranges: bool) -> None:
        self.files = files
        self.ranges = ranges
        self.gets: list[tuple[str, int, int]] = []
        self.base = ""

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def bytes_read(self, path: str) -> int:
        return sum(last + 1 - first for p, first, last in self.gets if p == path)


@contextmanager
def serving_files(files: dict[str, bytes], *, ranges: bool = True) -> Iterator[FileServer]:
    """Serve `files` over loopback HTTP, honouring single `Range: bytes=a-b` requests unless `ranges` is False."""
    server = FileServer(files, ranges=ranges)

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            path = self.path.lstrip("/")
            body = server.files.get(path)
            if body is None:
                self.answer(404)
                return
            wanted = self.headers.get("Range", "")
            if server.ranges and wanted.startswith("bytes="):
                first_text, _, last_text = wanted[len("bytes="):].partition("-")
                first = int(first_text)
                last = min(int(last_text) if last_text else len(body) - 1, len(body) - 1)
                server.gets.append((path, first, last))
                part = body[first:last + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
                self.send_header("Content-Length", str(len(part)))
                self.send_header("ETag", '"v1"')
                self.end_headers()
                self.wfile.write(part)
                return
            server.gets.append((path, 0, len(body) - 1))
            self.answer(200, body)

    with serving(Handler) as port:
        server.base = f"http://127.0.0.1:{port}"
        yield server
