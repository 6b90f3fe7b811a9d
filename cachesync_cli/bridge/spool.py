"""The outgoing spool: invalidations waiting for the broker, in SQLite, in order.

While the broker is unreachable, the bridge writes what it would have published here and
sends it, oldest first, once it is back. The spool survives a restart. It is bounded by
keys: past `max_keys` it collapses its contents to one `all` per cache, so an outage
costs cache flushes, never a lost invalidation.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cachesync_cli.bridge.coalesce import Coalescer
from cachesync_cli.errors import ConfigError
from cachesync_cli.wire.envelope import Item, Tenant, item_to_dict, items_from_list

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT,            -- JSON {"domain", "id"} or NULL
    items TEXT NOT NULL,    -- JSON list of WIRE.md items
    keys INTEGER NOT NULL,
    since REAL              -- when its oldest invalidation was taken in (epoch seconds)
)
"""


@dataclass(frozen=True)
class Pending:
    row: int
    tenant: Tenant | None
    items: tuple[Item, ...]
    since: float | None = None  # when its oldest invalidation was taken in (epoch seconds)


def _tenant_json(tenant: Tenant | None) -> str | None:
    return None if tenant is None else json.dumps({"domain": tenant.domain, "id": tenant.id})


def _items_from_json(text: str) -> tuple[Item, ...]:
    return items_from_list(json.loads(text))


class Spool:
    def __init__(self, path: Path, *, max_keys: int) -> None:
        self.path = path
        self.max_keys = max_keys
        self.collapses = 0
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(pending)")}
            if "since" not in columns:  # a spool written by an older version
                self._db.execute("ALTER TABLE pending ADD COLUMN since REAL")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the spool {path}: {exc}",
                              hint="make its directory writable, or set [sync] spool_path") from None
        self._keys = self._db.execute("SELECT COALESCE(SUM(keys), 0) FROM pending").fetchone()[0]
        self._rows = self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    @property
    def depth(self) -> int:
        """Rows waiting (each becomes one or more envelopes)."""
        return self._rows

    @property
    def keys(self) -> int:
        return self._keys

    def append(self, tenant: Tenant | None, items: tuple[Item, ...], since: float | None = None) -> int:
        """Persist items to publish later (`since`: when they were taken in, default now);
        the row id. Raises sqlite3.Error/OSError when the disk refuses."""
        keys = sum(item.key_count for item in items)
        with self._lock:
            cursor = self._db.execute("INSERT INTO pending (tenant, items, keys, since) VALUES (?, ?, ?, ?)",
                                      (_tenant_json(tenant), json.dumps([item_to_dict(i) for i in items]), keys,
                                       time.time() if since is None else since))
            self._rows += 1
            self._keys += keys
            if self._keys > self.max_keys:
                self._collapse()
            return cursor.lastrowid

    def _collapse(self) -> None:
        """Replace everything with one `all` item per (tenant, manager, cache)."""
        coalescer = Coalescer()
        since = self._db.execute("SELECT MIN(since) FROM pending").fetchone()[0]
        for tenant_text, items_text in self._db.execute("SELECT tenant, items FROM pending ORDER BY id"):
            tenant = Tenant(**json.loads(tenant_text)) if tenant_text else None
            coalescer.add((Item(cache=i.cache, all=True, manager=i.manager) for i in _items_from_json(items_text)),
                          tenant)
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM pending")
        for tenant, items in coalescer.batches():
            self._db.execute("INSERT INTO pending (tenant, items, keys, since) VALUES (?, ?, 0, ?)",
                             (_tenant_json(tenant), json.dumps([item_to_dict(i) for i in items]), since))
        self._db.execute("COMMIT")
        self._rows = self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
        self._keys = 0
        self.collapses += 1

    def peek(self, limit: int = 100) -> list[Pending]:
        """The oldest rows, not removed."""
        with self._lock:
            rows = self._db.execute("SELECT id, tenant, items, since FROM pending ORDER BY id LIMIT ?",
                                    (limit,)).fetchall()
        return [Pending(row, Tenant(**json.loads(t)) if t else None, _items_from_json(i), since)
                for row, t, i, since in rows]

    def oldest(self) -> float | None:
        """When the oldest waiting invalidation was taken in (epoch seconds); None when empty."""
        if not self._rows:
            return None
        with self._lock:
            found = self._db.execute("SELECT since FROM pending ORDER BY id LIMIT 1").fetchone()
        return found[0] if found and found[0] is not None else time.time()

    def remove(self, row: int) -> None:
        """Forget a row once it is published."""
        with self._lock:
            found = self._db.execute("SELECT keys FROM pending WHERE id = ?", (row,)).fetchone()
            if found is None:
                return
            self._db.execute("DELETE FROM pending WHERE id = ?", (row,))
            self._rows -= 1
            self._keys -= found[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
