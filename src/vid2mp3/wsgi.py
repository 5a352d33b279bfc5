"""WSGI entry point for any server: `gunicorn vid2mp3.wsgi:app` (settings from the environment)."""

from core.settings import Settings
from vid2mp3.wiring import build_web_app

app = build_web_app(Settings.from_env())
