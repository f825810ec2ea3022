"""Port checks that fail early with an error naming the setting to change."""

from __future__ import annotations

import errno
import random
import socket

from swath.errors import PortInUseError

__all__ = ["ensure_port_free", "free_port"]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ensure_port_free(host: str, port: int, *, setting: str) -> None:
    """Raise `PortInUseError` unless `host:port` can be bound right now.

    SO_REUSEADDR is *on*, as the servers we start (PostgreSQL, Go's net.Listen) set it too: with
    it off, Linux refuses the bind while old connections to the port sit in TIME_WAIT, so a quick
    restart would be reported as a conflict although the server itself would start fine. A socket
    that is actually listening on the port still makes the bind fail.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"{host}:{port} is already in use; set {setting} to a free port") from exc
            raise


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free at the time of the call (for tests; another process may take it later).

    Picked below Linux's ephemeral range (32768–60999): the temporal dev server takes ephemeral
    ports for its internal services, and one of those must not land on a port we asked it to use.
    """
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
