"""A RabbitMQ node of a test's own, beside the machine's shared one, to stop and start at will.

`rabbitmqctl stop_app` stops a whole node: done on the shared node it would break every other
test using RabbitMQ at the time. This node has its own name, AMQP and distribution ports, data
and log folders and configuration (no plugins), and is controlled with `rabbitmqctl -n NAME`.
Debian's wrappers run the server and rabbitmqctl as the `rabbitmq` user (same Erlang cookie),
so the node's folder belongs to that user.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

from testservices import free_port, wait_for_port

# Seen to start in 5 s on an idle machine and 24 s at a load average of 20.
START_TIMEOUT = 90
CTL_TIMEOUT = 60


class RabbitNode:
    """Start a private RabbitMQ node; `url` is its AMQP URL, `ctl(...)` runs rabbitmqctl on it."""

    def __init__(self) -> None:
        self.name = f"v2m{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="vid2mp3-rabbit-"))
        (self._dir / "enabled_plugins").write_text("[].\n")
        (self._dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self._dir / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        shutil.chown(self._dir, "rabbitmq", "rabbitmq")
        for path in self._dir.iterdir():
            shutil.chown(path, "rabbitmq", "rabbitmq")
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONF_ENV_FILE": str(self._dir / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self._dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self._dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self._dir / "log"),
            "RABBITMQ_PID_FILE": str(self._dir / "pid"),
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self._server = subprocess.Popen(
            ["rabbitmq-server"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def ctl(self, *args: str) -> None:
        """Run `rabbitmqctl -n NODE ARGS...` and fail loudly if it fails."""
        subprocess.run(
            ["rabbitmqctl", "-n", self.name, *args],
            check=True,
            capture_output=True,
            timeout=CTL_TIMEOUT,
        )

    def stop(self) -> None:
        """Halt the node and remove its folder."""
        try:
            self.ctl("stop")
            self._server.wait(timeout=CTL_TIMEOUT)
        except (subprocess.SubprocessError, OSError):
            os.killpg(self._server.pid, signal.SIGKILL)
            self._server.wait(timeout=CTL_TIMEOUT)
        shutil.rmtree(self._dir, ignore_errors=True)
