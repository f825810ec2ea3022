"""Port checks: a listening socket is a conflict, a recently closed one is not."""

import socket

import pytest

from swath.domain.errors import PortInUseError
from swath.embedded.ports import ensure_port_free, ephemeral_port, free_port, free_port_block, free_stack_ports


def test_free_port_passes() -> None:
    ensure_port_free("127.0.0.1", free_port(), setting="SWATH_PG_PORT")


def test_listening_port_names_the_setting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(PortInUseError) as info:
            ensure_port_free("127.0.0.1", port, setting="SWATH_PG_PORT")
    assert str(info.value) == f"127.0.0.1:{port} is already in use; set SWATH_PG_PORT to a free port"


def test_time_wait_is_not_a_conflict() -> None:
    # The server side closing first leaves its port in TIME_WAIT, as after a server restart.
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = listener.accept()
        conn.close()
        client.close()
    ensure_port_free("127.0.0.1", port, setting="SWATH_PG_PORT")


def test_free_port_never_returns_an_avoided_port() -> None:
    avoid = set(range(20000, 30000))
    for _ in range(20):
        assert free_port(avoid=avoid) not in avoid


def test_a_port_block_is_free_end_to_end_and_clear_of_avoided_ports() -> None:
    base = free_port_block(5, avoid=range(20000, 25000))
    assert base >= 25000
    for port in range(base, base + 5):
        ensure_port_free("127.0.0.1", port, setting="SWATH_POOL_HTTP_BASE_PORT")


def test_a_listening_port_is_never_inside_a_block() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        taken = listener.getsockname()[1]
        # Only blocks that would contain the listener are possible: every try must step around it.
        others = set(range(20000, 32000)) - set(range(taken - 4, taken + 1))
        with pytest.raises(OSError, match="no 5 consecutive free ports"):
            free_port_block(5, avoid=others)


def test_ephemeral_ports_are_outside_the_range_tests_hand_out() -> None:
    low, high = (int(n) for n in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    assert low <= ephemeral_port() <= high


def test_a_stack_s_ports_are_distinct_and_clear_of_the_pools_block() -> None:
    env = free_stack_ports(5)
    base = int(env["SWATH_POOL_HTTP_BASE_PORT"])
    others = [int(env["SWATH_API_PORT"]), int(env["SWATH_TEMPORAL_ADDRESS"].rpartition(":")[2]),
              int(env["SWATH_TEMPORAL_UI_PORT"]), int(env["SWATH_PG_PORT"])]
    assert len(set(others)) == 4
    assert not set(others) & set(range(base, base + 5))
