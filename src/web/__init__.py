"""The Falcon web app: HTTP API, authentication, uploads and downloads.

Build it with `web.app.create_app(...)`; every dependency is passed in, nothing is read from the
environment here. This package never imports `actors`: enqueueing is a callable handed in.
"""
