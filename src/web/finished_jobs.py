"""Keep the JSON of finished jobs in each web process, so a page of them is not read twice.

`GET /jobs` is polled, and most of a page is finished jobs that rarely change; reading their
full rows was most of the request's cost (pymysql parses every column of every row in Python).
The database computes a fingerprint of each row (`fingerprint`: the MD5 of every column the
JSON is made from), so a page reads ids, states and fingerprints first, and the full rows only of
the jobs whose JSON is not kept under that fingerprint. Any change to any of those columns
changes the fingerprint, whichever write made it, so a kept JSON is never stale. Only finished
jobs are kept: a waiting or running job's place and estimates change by the second.
"""

from __future__ import annotations

import collections
import threading

from sqlalchemy import String, cast, func, literal_column
from sqlalchemy.sql.elements import ColumnElement

# Between columns, and for a NULL one: control characters no column's text holds. Written into
# the statement rather than bound, so a page's query carries no parameters for them.
_SEPARATOR, _NULL = literal_column("'\x1f'"), literal_column("'\x1e'")


def fingerprint(columns) -> ColumnElement[str]:
    """Return the SQL for the MD5 of `columns`' values as text (NULL distinct from any text)."""
    parts = []
    for column in columns:
        parts += [func.coalesce(cast(column, String), _NULL), _SEPARATOR]
    return func.md5(func.concat(*parts))


class FinishedJobs:
    """The JSON of finished jobs by (job id, fingerprint, root path); the least recently used
    go first once `size` are kept. Safe to share between a worker's threads."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._kept: collections.OrderedDict[tuple, dict] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict | None:
        """Return the JSON kept under `key`, or None."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, key: tuple, json: dict) -> None:
        """Keep `json` (never changed afterwards: it is shared) under `key`."""
        with self._lock:
            self._kept[key] = json
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
