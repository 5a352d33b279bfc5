"""A TCP proxy in front of one real backing service that can cut it or pause it (fault tests).

`pause()` holds every byte in both directions (a hung server: connections stay open, nothing is
answered, new connections are accepted and then left waiting); `cut()` resets every connection
and resets new ones at once (a server that is gone); `restore()` lets traffic flow again. It
forwards to the real service, so the code under test talks to MariaDB, RabbitMQ, SMTP or the
MongoDB-wire server exactly as in production.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

import requests

from testservices import TEST_PASSWORD

# A bound, not a benchmark: a request still unanswered after this long under a fault is hung.
HUNG = 20


class FaultProxy:
    """Listen on 127.0.0.1:`port` and forward to `target`, unless cut or paused."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._cut = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    # -- faults ------------------------------------------------------------------------
    def pause(self) -> None:
        """Hold every byte: the service looks hung."""
        self._flowing.clear()

    def cut(self) -> None:
        """Reset every open connection and every new one: the service looks gone."""
        self._cut = True
        self._flowing.set()
        with self._lock:
            for sock in list(self._sockets):
                _reset(sock)
            self._sockets.clear()

    def restore(self) -> None:
        """Let traffic through again."""
        self._cut = False
        self._flowing.set()

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._closed = True
        self.cut()
        self._listener.close()

    # -- forwarding --------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut:
                _reset(client)
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        self._flowing.wait()
        try:
            upstream = socket.create_connection(self._target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            self._forget(client, reset=True)
            return
        self._track(upstream)
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                self._flowing.wait()
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        self._forget(source)
        self._forget(sink)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._cut:
            self._forget(sock, reset=True)

    def _forget(self, sock: socket.socket, reset: bool = False) -> None:
        with self._lock:
            self._sockets.discard(sock)
        if reset:
            _reset(sock)
        else:
            with contextlib.suppress(OSError):
                sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the peer gets a TCP reset instead of an orderly close."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # SHUT_RD wakes our own thread blocked in recv() without sending the peer anything.
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


def login(base: str, user) -> dict:
    """Return bearer headers for `user` from the server at `base`."""
    answer = requests.post(f"{base}/login", auth=(user.email, TEST_PASSWORD), timeout=HUNG)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def upload(base: str, auth: dict, clip, timeout: float = HUNG) -> str:
    """POST `clip` to /upload at `base`; check the 202 and return the job's id."""
    with clip.open("rb") as f:
        answer = requests.post(
            f"{base}/upload", headers=auth, files={"file": ("clip.mp4", f)}, timeout=timeout
        )
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]
