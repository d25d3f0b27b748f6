"""A TCP proxy in front of a service (PostgreSQL) that a test can cut and restore, to take
the service away from a process without touching the service itself."""

from __future__ import annotations

import contextlib
import select
import socket
import threading

from tests.support.ports import free_port


class TcpProxy:
    """Forwards a loopback port to PostgreSQL; cut() drops every connection and refuses more."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._open = False

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        with self._lock:
            self._listener, self._open = listener, True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        listener = self._listener
        while self._serving(listener):
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self._serving(listener):  # taken as cut() woke accept(): refused after all
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if not self._serving(listener):  # cut() ran meanwhile: nothing outlives it
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _serving(self, listener: socket.socket) -> bool:
        """Still open, and on this listener (not one a restore() made after a cut)."""
        return self._open and self._listener is listener

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket cut() closed
            return
        finally:
            a.close()
            b.close()

    def cut(self) -> None:
        """Refuse from now on, and drop what is open. The listener is shut down before it
        is closed: close() alone leaves a thread blocked in accept() to take one more."""
        with self._lock:
            self._open = False
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self.start()
