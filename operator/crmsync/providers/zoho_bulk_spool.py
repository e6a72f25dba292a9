"""Rows of a Bulk Read export held on disk and handed back in listing order.

A listing reads records oldest modification first (``Modified_Time``, then id), and a
full run relies on it: its resume point is a (modified time, id) mark, and when two
records share an email the first one read claims it. A Bulk Read CSV follows no
documented order, so its rows go through a SQLite file in the temporary directory and
come back sorted; memory stays flat whatever the number of records.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

BATCH = 5000
SEPARATOR = "\x1f"
"""Joins a row's cells (ASCII unit separator); a row holding one is kept as JSON instead."""


def _pack(cells: Sequence[str]) -> str:
    text = SEPARATOR.join(cells)
    if text.count(SEPARATOR) != len(cells) - 1 or text.startswith("["):
        return json.dumps(list(cells))
    return text


def _unpack(text: str) -> list[str]:
    if text.startswith("["):
        return [str(cell) for cell in json.loads(text)]
    return text.split(SEPARATOR)


class RowSpool:
    """``add`` rows (with their order key), then read them back in ``pages`` of ``size``.

    One thread at a time: rows are added in a worker thread, read on the event loop."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-4096;"
            "CREATE TABLE rows (at_ms INTEGER, id_len INTEGER, id TEXT, cells TEXT);"
        )
        self.count = 0

    def add(self, rows: Iterable[tuple[int, str, Sequence[str]]]) -> None:
        """Rows as (modified time in ms, record id, the row's cells)."""
        batch: list[tuple[int, int, str, str]] = []
        self._conn.execute("BEGIN")
        for at_ms, record_id, cells in rows:
            batch.append((at_ms, len(record_id), record_id, _pack(cells)))
            if len(batch) >= BATCH:
                self._flush(batch)
        self._flush(batch)
        self._conn.execute("COMMIT")

    def _flush(self, batch: list[tuple[int, int, str, str]]) -> None:
        self._conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?)", batch)
        self.count += len(batch)
        batch.clear()

    def pages(self, size: int) -> Iterator[list[list[str]]]:
        # Ids are numbers: shorter ids first, as the listing's keyset compares them.
        cursor = self._conn.execute("SELECT cells FROM rows ORDER BY at_ms, id_len, id")
        while chunk := cursor.fetchmany(size):
            yield [_unpack(cells) for (cells,) in chunk]

    def close(self) -> None:
        self._conn.close()
