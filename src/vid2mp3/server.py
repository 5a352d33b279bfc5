"""Run the web app under gunicorn from settings (`vid2mp3 serve`, and `vid2mp3 run` embedded)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from gunicorn.app.base import BaseApplication

from core.settings import Settings


class GunicornApp(BaseApplication):
    """Gunicorn with options from code; each worker builds its own app (no fork-shared pools)."""

    def __init__(self, build: Callable[[], object], options: dict) -> None:
        self._build = build
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._build()


def gunicorn_options(settings: Settings, host: str, port: int, workers: int, threads: int) -> dict:
    """Return the gunicorn settings both `serve` and `run` use."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        # gthread: a long upload or download holds a thread, not the whole worker.
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 30,
        "control_socket_disable": True,
        "accesslog": None,
        # gunicorn believes X-Forwarded-Proto from the same peers as web.proxy does, no others.
        "forwarded_allow_ips": ",".join(settings.trusted_proxies),
    }


def serve(settings: Settings, host: str, port: int, workers: int | None) -> int:
    """Serve the web app with gunicorn (production: external broker, database and store)."""
    from vid2mp3.wiring import build_web_app

    options = gunicorn_options(settings, host, port, workers or settings.web_concurrency, 8)
    options["child_exit"] = _forget_worker_metrics
    _use_fresh_metrics_folder(settings)
    GunicornApp(lambda: build_web_app(settings), options).run()
    return 0


def _use_fresh_metrics_folder(settings: Settings) -> None:
    # Set before any worker forks or imports prometheus_client; a new folder per server run
    # so counters start at zero instead of carrying over from an earlier run.
    folder = settings.data_dir / "metrics" / f"web-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _forget_worker_metrics(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
