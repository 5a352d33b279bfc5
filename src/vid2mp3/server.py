"""Run the web app under gunicorn and the pipeline's Dramatiq worker, from settings."""

from __future__ import annotations

import os
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


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict:
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
    }


def serve(settings: Settings, host: str, port: int, workers: int | None) -> int:
    """Serve the web app with gunicorn (production: external broker, database and store)."""
    from vid2mp3.wiring import build_web_app

    workers = workers or int(os.environ.get("WEB_CONCURRENCY", "2"))
    GunicornApp(lambda: build_web_app(settings), gunicorn_options(host, port, workers, 8)).run()
    return 0


def run_worker(
    settings: Settings, queues: list[str] | None, processes: int | None, threads: int | None
) -> int:
    """Replace this process with the Dramatiq worker over the pipeline's actors."""
    from actors.worker import worker_argv

    argv = worker_argv(settings, queues, processes, threads)
    os.execvp(argv[0], argv)  # noqa: S606 - argv is built from our own settings
    return 0  # pragma: no cover - exec does not return
