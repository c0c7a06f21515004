"""The ``kv`` table (``connector.store.kv_table``) as a few small operations: a stored signing
secret, the helpdesk's API user, "already noted" markers."""

from __future__ import annotations

import time

from sqlalchemy import Connection, Table, select, update

from connector.store import insert_ignore, kv_table

table: Table = kv_table

__all__ = ["kv_add", "kv_get", "kv_set", "table"]


def kv_get(conn: Connection, key: str) -> str | None:
    value = conn.execute(select(table.c.value).where(table.c.key == key)).scalar()
    return None if value is None else str(value)


def kv_add(conn: Connection, key: str, value: str, *, now: float | None = None) -> bool:
    """Insert ``key`` unless it exists; True when this call inserted it."""
    now = time.time() if now is None else now
    return insert_ignore(conn, table, {"key": key, "value": value, "updated_at": now})


def kv_set(conn: Connection, key: str, value: str, *, now: float | None = None) -> bool:
    """Store ``value``; True when it was new or different."""
    now = time.time() if now is None else now
    if kv_add(conn, key, value, now=now):
        return True
    result = conn.execute(update(table).where(table.c.key == key, table.c.value != value)
                          .values(value=value, updated_at=now))
    return bool(result.rowcount)
