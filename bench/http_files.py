"""A loopback HTTP server for files on disk that honours `Range`, counting the bytes it sends:
where the STAC scene benchmark serves its COGs from (for Swath and the plain script alike)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class FileServer:
    """Serves `root`; `sent` is the bytes of file bodies sent so far."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sent = 0
        self._lock = threading.Lock()
        self.port = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def count(self, n: int) -> None:
        with self._lock:
            self.sent += n


@contextlib.contextmanager
def serving(root: Path) -> Iterator[FileServer]:
    """Serve `root` on a free loopback port while the block runs."""
    files = FileServer(root)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:  # noqa: N802 - the standard library's name
            self._answer(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            path = (root / self.path.lstrip("/").split("?")[0]).resolve()
            if root.resolve() not in path.parents or not path.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            size = path.stat().st_size
            start, end = 0, size - 1
            match = _RANGE.match(self.headers.get("Range", ""))
            if match and (match.group(1) or match.group(2)):
                if match.group(1):
                    start, end = int(match.group(1)), min(int(match.group(2) or size - 1), size - 1)
                else:
                    start = max(0, size - int(match.group(2)))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(end + 1 - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "image/tiff")
            self.end_headers()
            if body:
                with open(path, "rb") as f:
                    f.seek(start)
                    left = end + 1 - start
                    while left > 0:
                        chunk = f.read(min(left, 1 << 20))
                        self.wfile.write(chunk)
                        left -= len(chunk)
                        files.count(len(chunk))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    files.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield files
    finally:
        server.shutdown()
        server.server_close()
