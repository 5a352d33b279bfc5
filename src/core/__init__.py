"""Shared core of vid2mp3: what both the web app and the workers stand on.

Settings, the database (models, sessions), the blob store, the job state machine, and accounts
(passwords, tokens, login throttling). Nothing here imports `web` or `actors`.
"""
