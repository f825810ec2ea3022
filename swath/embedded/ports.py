"""Port checks that fail early with an error naming the setting to change."""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Iterable

from swath.domain.errors import PortInUseError

__all__ = ["ensure_port_free", "ephemeral_port", "free_port", "free_port_block", "free_stack_ports"]


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


def free_port(host: str = "127.0.0.1", *, avoid: Iterable[int] = ()) -> int:
    """A port that is free at the time of the call (for tests; another process may take it later).

    Picked below Linux's ephemeral range (32768–60999): the temporal dev server takes ephemeral
    ports for its internal services, and one of those must not land on a port we asked it to use.
    Ports in `avoid` (already promised to something else) are never returned.
    """
    return free_port_block(1, host, avoid=avoid)


def free_port_block(count: int, host: str = "127.0.0.1", *, avoid: Iterable[int] = ()) -> int:
    """The first of `count` consecutive ports that are all free now, none of them in `avoid`."""
    avoided = set(avoid)
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000 - count)
        block = range(base, base + count)
        if not avoided.intersection(block) and all(_bindable(host, port) for port in block):
            return base
    raise OSError(f"no {count} consecutive free ports on {host} between 20000 and 32000")


def free_stack_ports(pools: int, host: str = "127.0.0.1") -> dict[str, str]:
    """`SWATH_*` port settings for one embedded stack on free ports (tests, benchmarks), all distinct:
    the pools' block first, then one port each for the others, none inside that block (a pool
    binding a port promised to the API would stop the API starting)."""
    pool_base = free_port_block(pools, host)
    taken = set(range(pool_base, pool_base + pools))

    def port() -> int:
        chosen = free_port(host, avoid=taken)
        taken.add(chosen)
        return chosen

    return {
        "SWATH_API_PORT": str(port()),
        "SWATH_TEMPORAL_ADDRESS": f"{host}:{port()}",
        "SWATH_TEMPORAL_UI_PORT": str(port()),
        "SWATH_PG_PORT": str(port()),
        # The pools take this port and the next ones (one each), in task queue order.
        "SWATH_POOL_HTTP_BASE_PORT": str(pool_base),
    }


def ephemeral_port(host: str = "127.0.0.1") -> int:
    """A free port the kernel picks from its ephemeral range, for a listener nobody is told about
    (outside the range `free_port` hands out, so it never takes a port promised to another server)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _bindable(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
