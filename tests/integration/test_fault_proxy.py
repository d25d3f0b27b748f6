"""The fault suite's TCP proxy cuts for real: after cut() no connection is accepted or
kept, even one made while its accept thread was waiting, and restore() serves again."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.support.proxy import TcpProxy


@pytest.fixture
def echo() -> tuple[str, int]:
    """A loopback server that answers each connection with what it is sent."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()
    server.close()


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(1024):
            conn.sendall(data)


def _round_trip(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.sendall(b"ping")
    assert sock.recv(4) == b"ping"
    return sock


def _refused(port: int) -> bool:
    """True if a new connection is refused, or dropped before it carries anything."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return True
    with sock:
        try:
            sock.sendall(b"ping")
            return sock.recv(4) == b""
        except OSError:
            return True


def test_cut_drops_open_connections_and_refuses_new_ones_until_restored(echo):
    proxy = TcpProxy(echo)
    proxy.start()
    for attempt in range(20):  # the accept thread is waiting in accept() at every cut
        opened = _round_trip(proxy.port)
        proxy.cut()
        assert opened.recv(4) == b"", f"a connection outlived cut {attempt}"
        opened.close()
        assert _refused(proxy.port), f"a connection was taken after cut {attempt}"
        assert _refused(proxy.port)
        proxy.restore()
        _round_trip(proxy.port).close()
    proxy.cut()
