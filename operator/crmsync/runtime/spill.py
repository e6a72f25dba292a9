"""One run's containers, moved to a SQLite file once they grow past a size.

A full run held the whole audience and its per-record sets in dicts (≈ 0.4 KiB a record:
186 MiB at 300,000 records). Each container here starts as a dict; past ``limit``
entries it moves to a table of the run's SQLite database, as Bulk Read exports are
spooled (:mod:`crmsync.providers.zoho_bulk_spool`). The database is a private temporary
file (SQLite's empty file name, in ``TMPDIR``) that SQLite deletes when it is closed: when
the run and its result are gone, or with the process. Writes are buffered and inserted in
batches; lookups go through the table's key (email or record key), the audience's by
its index on the record link. On disk, iteration is in key order.
"""

from __future__ import annotations

import marshal
import os
import pickle
import sqlite3
from collections.abc import (
    Callable,
    ItemsView,
    Iterator,
    Mapping,
    MutableMapping,
    MutableSet,
    ValuesView,
)
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from crmsync.engine.records import Member, MemberStatus
from crmsync.engine.runmemory import linked_emails

V = TypeVar("V")
D = TypeVar("D")

SPILL_AFTER = int(os.environ.get("CRMSYNC_SPILL_AFTER", "20000"))
"""Entries a container holds in memory; beyond, it lives on disk (0: always on disk).
Read when a run starts, so tests can lower it (``CRMSYNC_SPILL_AFTER`` sets it for a
whole operator)."""
BATCH = 2_000
"""Writes buffered before one insert."""
CACHE_KIB = 4096
"""SQLite's page cache for the run's database."""


class RunStore:
    """The run's SQLite database, opened when the first container moves to disk."""

    def __init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._tables = 0

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect("", isolation_level=None)
            self._conn.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                f" PRAGMA cache_size=-{CACHE_KIB}; PRAGMA temp_store=FILE;"
            )
        return self._conn

    def table(self, linked: bool) -> str:
        """A new table of (key, value), with an indexed link column if ``linked``."""
        self._tables += 1
        name = f"t{self._tables}"
        if linked:
            self.conn.executescript(
                f"CREATE TABLE {name} (k TEXT PRIMARY KEY, v BLOB, link TEXT);"
                f" CREATE INDEX {name}_link ON {name} (link);"
            )
        else:
            self.conn.execute(f"CREATE TABLE {name} (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID")
        return name

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _same(value: Any) -> Any:
    return value


def _pickled(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _parsed(at: str | None) -> datetime | None:
    return None if at is None else datetime.fromisoformat(at)


MEMBER_FIELDS = (
    "email",
    "status",
    "values",
    "tags",
    "in_list",
    "last_changed",
    "opted_in_at",
    "removed_by_sync",
    "owners",
)
"""What :func:`_member_bytes` keeps (a test checks it is every field of Member)."""
_STATUSES = {str(s): s for s in MemberStatus}


def _member_bytes(m: Member) -> bytes:
    """A member as plain values (a third of its pickle, read several times faster)."""
    return marshal.dumps(
        (
            m.email,
            str(m.status),
            dict(m.values),
            sorted(m.tags),
            m.in_list,
            _time(m.last_changed),
            _time(m.opted_in_at),
            m.removed_by_sync,
            sorted(m.owners),
        )
    )


def _member(data: bytes) -> Member:
    email, status, values, tags, in_list, changed, opted_in, removed, owners = marshal.loads(data)
    return Member(
        email,
        _STATUSES[status],
        values,
        frozenset(tags),
        in_list,
        _parsed(changed),
        _parsed(opted_in),
        removed,
        frozenset(owners),
    )


class SpillDict(MutableMapping[str, V], Generic[V]):
    """A dict until it holds more than ``limit`` entries, then a table of ``store``.

    ``link`` (the audience): a member's record link, kept in an indexed column so
    :meth:`links` finds the member of a record key without reading the audience."""

    def __init__(
        self,
        store: RunStore,
        limit: int,
        *,
        pickled: bool = True,
        link: Callable[[V], str | None] | None = None,
        codec: tuple[Callable[[V], bytes], Callable[[bytes], V]] | None = None,
    ) -> None:
        self._store, self._limit, self._link = store, limit, link
        self._encode: Callable[[V], Any] = _pickled if pickled else _same
        self._decode: Callable[[Any], V] = pickle.loads if pickled else _same
        if codec is not None:
            self._encode, self._decode = codec
        self._memory: dict[str, V] | None = {}
        self._pending: dict[str, V] = {}
        self._table = self._select = self._exists = ""

    @property
    def key_ordered(self) -> bool:
        return self._memory is None

    @property
    def on_disk(self) -> bool:
        return self._memory is None

    def _spill(self) -> None:
        assert self._memory is not None
        self._table = self._store.table(linked=self._link is not None)
        self._select = f"SELECT v FROM {self._table} WHERE k = ?"
        self._exists = f"SELECT 1 FROM {self._table} WHERE k = ?"
        self._pending, self._memory = self._memory, None
        self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        conn, table, encode = self._store.conn, self._table, self._encode
        conn.execute("BEGIN")
        if self._link is None:
            # Key order: the inserts walk the table's tree instead of jumping about it.
            rows = sorted((k, encode(v)) for k, v in self._pending.items())
            conn.executemany(f"INSERT OR REPLACE INTO {table} (k, v) VALUES (?, ?)", rows)
        else:
            link = self._link
            # In the order given, and an update keeps its row: the last member listed
            # with a link wins, as in a dict built from the listing.
            conn.executemany(
                f"INSERT INTO {table} (k, v, link) VALUES (?, ?, ?) ON CONFLICT (k)"
                " DO UPDATE SET v = excluded.v, link = excluded.link",
                [(k, encode(v), link(v) or None) for k, v in self._pending.items()],
            )
        conn.execute("COMMIT")
        self._pending.clear()

    def __getitem__(self, key: str) -> V:
        if self._memory is not None:
            return self._memory[key]
        if key in self._pending:
            return self._pending[key]
        row = self._store.conn.execute(self._select, (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return self._decode(row[0])

    @overload
    def get(self, key: str, /) -> V | None: ...

    @overload
    def get(self, key: str, default: V | D, /) -> V | D: ...

    def get(self, key: str, default: Any = None, /) -> Any:
        if self._memory is not None:
            return self._memory.get(key, default)
        if key in self._pending:
            return self._pending[key]
        row = self._store.conn.execute(self._select, (key,)).fetchone()
        return default if row is None else self._decode(row[0])

    def __contains__(self, key: object) -> bool:
        if self._memory is not None:
            return key in self._memory
        if key in self._pending:
            return True
        return self._store.conn.execute(self._exists, (key,)).fetchone() is not None

    def __setitem__(self, key: str, value: V) -> None:
        if self._memory is not None:
            self._memory[key] = value
            if len(self._memory) > self._limit:
                self._spill()
            return
        self._pending[key] = value
        if len(self._pending) >= BATCH:
            self._flush()

    def __delitem__(self, key: str) -> None:
        if self._memory is not None:
            del self._memory[key]
            return
        pending = self._pending.pop(key, None) is not None
        sql = f"DELETE FROM {self._table} WHERE k = ?"
        if not self._store.conn.execute(sql, (key,)).rowcount and not pending:
            raise KeyError(key)

    def __len__(self) -> int:
        if self._memory is not None:
            return len(self._memory)
        self._flush()
        return int(self._store.conn.execute(f"SELECT count(*) FROM {self._table}").fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        if self._memory is not None:
            return iter(self._memory)
        return (k for k, _ in self._rows())

    def _rows(self) -> Iterator[tuple[str, Any]]:
        self._flush()
        return iter(self._store.conn.execute(f"SELECT k, v FROM {self._table} ORDER BY k"))

    def items(self) -> ItemsView[str, V]:
        return _Items(self)

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def iter_items(self) -> Iterator[tuple[str, V]]:
        """One read of the table (not one per key)."""
        if self._memory is not None:
            return iter(self._memory.items())
        decode = self._decode
        return ((k, decode(v)) for k, v in self._rows())

    def link_index(self) -> Mapping[str, str] | None:
        """On disk: link → key of the entry linked to it (the last one given wins)."""
        if self._memory is not None or self._link is None:
            return None
        self._flush()
        return _Links(self._store, self._table)


class _Items(ItemsView[str, V]):
    def __init__(self, mapping: SpillDict[V]) -> None:
        super().__init__(mapping)
        self._spilled = mapping

    def __iter__(self) -> Iterator[tuple[str, V]]:
        return self._spilled.iter_items()


class _Values(ValuesView[V]):
    def __init__(self, mapping: SpillDict[V]) -> None:
        super().__init__(mapping)
        self._spilled = mapping

    def __iter__(self) -> Iterator[V]:
        return (v for _, v in self._spilled.iter_items())


class _Links(Mapping[str, str]):
    def __init__(self, store: RunStore, table: str) -> None:
        self._store, self._table = store, table

    def __getitem__(self, key: str) -> str:
        sql = f"SELECT k FROM {self._table} WHERE link = ? ORDER BY rowid DESC LIMIT 1"
        row = self._store.conn.execute(sql, (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return str(row[0])

    def __iter__(self) -> Iterator[str]:
        sql = f"SELECT DISTINCT link FROM {self._table} WHERE link IS NOT NULL ORDER BY link"
        return (str(link) for (link,) in self._store.conn.execute(sql))

    def __len__(self) -> int:
        sql = f"SELECT count(DISTINCT link) FROM {self._table}"
        return int(self._store.conn.execute(sql).fetchone()[0])


class SpillSet(MutableSet[str]):
    """A set until it holds more than ``limit`` entries, then a table of ``store``."""

    def __init__(self, store: RunStore, limit: int) -> None:
        self._entries: SpillDict[str] = SpillDict(store, limit, pickled=False)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, value: str) -> None:
        self._entries[value] = ""

    def discard(self, value: str) -> None:
        self._entries.pop(value, None)


class SpillingMemory:
    """The planner's containers (:class:`crmsync.engine.runmemory.RunMemory`) and the
    run's own, all in one store."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = SPILL_AFTER if limit is None else limit
        self.store = RunStore()

    def strings(self, name: str) -> SpillDict[str]:
        return SpillDict(self.store, self.limit, pickled=False)

    def objects(self, name: str, kind: type[V]) -> SpillDict[V]:
        return SpillDict(self.store, self.limit)

    def keys(self, name: str) -> SpillSet:
        return SpillSet(self.store, self.limit)

    def members(self, link_field: str) -> SpillDict[Member]:
        """An empty audience to fill from the target's listing."""
        return SpillDict(
            self.store,
            self.limit,
            link=lambda m: m.values.get(link_field),
            codec=(_member_bytes, _member),
        )

    def audience(self, observed: Mapping[str, Member], link_field: str) -> Mapping[str, Member]:
        if isinstance(observed, SpillDict) or len(observed) <= self.limit:
            return observed
        moved = self.members(link_field)
        moved.update(observed)
        return moved

    def record_links(self, observed: Mapping[str, Member], link_field: str) -> Mapping[str, str]:
        index = observed.link_index() if isinstance(observed, SpillDict) else None
        return linked_emails(observed, link_field) if index is None else index
