"""Port checks: a listening socket is a conflict, a recently closed one is not."""

import socket

import pytest

from swath.embedded.ports import ensure_port_free, free_port
from swath.errors import PortInUseError


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
