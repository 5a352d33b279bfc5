"""Slow clients (slowloris) leave liveness and login fast behind the shipped nginx config.

Debian's nginx runs deploy/nginx/nginx.conf, the file compose uses, with only its upstream,
port and temp folder pointed at this test's `vid2mp3 serve`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import requests

from faultproxy import HUNG
from nginx import running_nginx
from testservices import TEST_PASSWORD

SLOW_CLIENTS = 50


@pytest.fixture
def proxy(start_web, tmp_path):
    web = int(start_web().rsplit(":", 1)[1])
    with running_nginx(web, tmp_path / "nginx") as url:
        yield url


def _slow_clients(port: int, count: int, stop: threading.Event) -> None:
    """Hold `count` connections that send a request header one byte at a time, forever."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a")
        sockets.append(sock)
    while not stop.wait(0.5):
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.sendall(b"a")
    for sock in sockets:
        sock.close()


def test_fifty_slow_clients_do_not_slow_liveness_or_login(proxy, make_user):
    user = make_user()
    port = int(proxy.rsplit(":", 1)[1])
    stop = threading.Event()
    holder = threading.Thread(target=_slow_clients, args=(port, SLOW_CLIENTS, stop), daemon=True)
    holder.start()
    time.sleep(1)  # let every slow client be connected and trickling
    latencies = []
    try:
        for _ in range(5):
            started = time.monotonic()
            assert requests.get(f"{proxy}/healthz", timeout=HUNG).status_code == 200
            login = requests.post(f"{proxy}/login", auth=(user.email, TEST_PASSWORD), timeout=HUNG)
            assert login.status_code == 200, login.text
            latencies.append(time.monotonic() - started)
    finally:
        stop.set()
        holder.join(10)
    # Answered at all is the test: behind gunicorn alone, 8 slow clients already take every
    # thread, and these requests wait past HUNG (the clients trickle for as long as they run).
    # How fast they are answered is a measurement, printed, never asserted.
    print(f"healthz + login through nginx with {SLOW_CLIENTS} slow clients: {latencies}")
