"""A TCP proxy that cuts the first request body to pass a given size: a dropped upload.

The cut closes the client's side and half-closes the server's, so the server reads the end of
the body (as when a client's connection drops) and answers; `cut_answered` is set once it has.
`body_bytes` counts the request body bytes that reached the server, so a test can tell how
many bytes a client sent twice.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """Forward TCP to `target`; the first request body to pass `cut_after` bytes is cut there.

    The cut closes the client's connection and half-closes the server's: the server reads the
    end of the body, answers into the void and closes, and then `cut_answered` is set.
    """

    def __init__(self, target: tuple[str, int], cut_after: int) -> None:
        self._target = target
        self._cut_after = cut_after
        self.cut_done = threading.Event()
        self.cut_answered = threading.Event()
        self.body_bytes = 0  # request body bytes that reached the server, all requests
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:  # the server refused: so does the proxy, and it keeps accepting
                downstream.close()
                continue
            cut = threading.Event()
            threading.Thread(target=self._up, args=(downstream, upstream, cut), daemon=True).start()
            threading.Thread(
                target=self._down, args=(upstream, downstream, cut), daemon=True
            ).start()

    def _up(self, downstream: socket.socket, upstream: socket.socket, cut: threading.Event) -> None:
        head, body = b"", 0
        try:
            while data := downstream.recv(64 * 1024):
                if b"\r\n\r\n" not in head:
                    head += data
                    if b"\r\n\r\n" not in head:
                        upstream.sendall(data)
                        continue
                    data = head.split(b"\r\n\r\n", 1)[1]
                    upstream.sendall(head[: len(head) - len(data)])
                if not self.cut_done.is_set() and body + len(data) > self._cut_after:
                    data = data[: self._cut_after - body]
                    upstream.sendall(data)
                    self._count(len(data))
                    cut.set()
                    self.cut_done.set()
                    break
                upstream.sendall(data)
                body += len(data)
                self._count(len(data))
        except OSError:
            pass
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            downstream.shutdown(socket.SHUT_RDWR)

    def _down(self, upstream: socket.socket, downstream: socket.socket, cut: threading.Event):
        # Whatever ends the server's side (its answer and close, gunicorn closing an idle
        # kept-alive connection, a reset), the client's side ends too, or the browser would
        # send its next request into a dead connection and wait for ever. Shut down, not just
        # closed: close() does not wake `_up`'s recv() on the same socket, and while a call
        # holds it the connection stays open and the browser sees no FIN.
        try:
            while data := upstream.recv(64 * 1024):
                with contextlib.suppress(OSError):
                    downstream.sendall(data)
        except OSError:
            pass
        for side in (upstream, downstream):
            with contextlib.suppress(OSError):
                side.shutdown(socket.SHUT_RDWR)
        upstream.close()
        downstream.close()
        if cut.is_set():
            self.cut_answered.set()

    def _count(self, n: int) -> None:
        with self._lock:
            self.body_bytes += n

    def close(self) -> None:
        self._listener.close()
