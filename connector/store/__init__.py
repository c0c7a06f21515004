"""The connector's own store: SQLAlchemy Core tables and the engine that holds them.

Only what reliable delivery needs lives here (ARCHITECTURE.md §1): dedupe keys, the conversation →
ticket map, the job queue, opt-outs, delivery status, shared rate budgets and leases. The helpdesk
stays the system of record.

SQLite is the embedded default: one file in WAL mode, shareable by several processes on one machine.
Every SQLite transaction starts with ``BEGIN IMMEDIATE`` so writers queue on the file lock instead
of failing a read-then-write upgrade with "database is locked"
(https://sqlite.org/lang_transaction.html); read-only paths use ``reading()``.
PostgreSQL is for several machines; the queue then claims with ``FOR UPDATE SKIP LOCKED``.

Times are stored as UNIX seconds (float): the queue compares them on every claim and an injectable
``now`` in tests is a plain number.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import weakref

try:  # POSIX; elsewhere processes sharing a file fall back to SQLite's busy handler alone
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for a busy queue.
Id = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("conversation_key", String(255)),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # ready | running | done | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("run_at", Float, nullable=False),
    Column("lease_token", String(64)),
    Column("lease_expires_at", Float),
    Column("locked_by", String(128)),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_jobs_status_run_at", "status", "run_at", "id"),
    Index("ix_jobs_conversation", "conversation_key", "id"),
    # /metrics counts retried jobs by kind: only those rows are in it (0006).
    Index("ix_jobs_retried", "kind", postgresql_where=text("attempts > 1"),
          sqlite_where=text("attempts > 1")),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_phone", String(32), nullable=False),
    Column("channel_key", String(64), nullable=False),
    Column("helpdesk", String(16), nullable=False),
    Column("requester_id", BigInteger),
    Column("ticket_id", BigInteger),
    Column("ticket_status", String(16)),
    Column("ticket_updated_stamp", String(32)),
    Column("ticket_created_at", Float),
    Column("solved_at", Float),
    Column("category", String(32)),
    Column("tier", String(8)),
    # The helpdesk write under way, recorded before the call so a retry can reconcile it:
    # {"op": "create"|"update", "key", "message_ids", "body", "uploads", "ticket_id", "at"}.
    Column("inflight", JSON),
    Column("followup_source_id", BigInteger),  # the closed / expired ticket a new one follows
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("customer_phone", "channel_key", name="uq_conversation"),
    Index("ix_conversations_ticket", "helpdesk", "ticket_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(16), nullable=False),
    Column("provider_message_id", String(64), nullable=False),
    Column("conversation_id", BigInteger, ForeignKey("conversations.id")),
    Column("channel_key", String(64)),
    Column("from_number", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("media", JSON, nullable=False),
    Column("raw", JSON, nullable=False),
    Column("received_at", Float, nullable=False),
    # pending → delivered (on the ticket) | held (no channel: dead-lettered, visible to admins)
    Column("state", String(16), nullable=False),
    Column("keyword", String(16)),
    Column("ticket_id", BigInteger),
    Column("delivered_at", Float),
    UniqueConstraint("provider", "provider_message_id", name="uq_message_provider_id"),
    Index("ix_messages_conversation_state", "conversation_id", "state", "id"),
    # The helpdesk webhook asks whether a ticket was ever an SMS conversation's (0004).
    Index("ix_messages_ticket", "ticket_id"),
    # /metrics counts texts by provider and state from this index alone, not the rows (0006).
    Index("ix_messages_provider_state", "provider", "state"),
    Index("ix_messages_from_received", "from_number", "received_at"),  # guards (0009)
)

outbound = Table(
    "outbound",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", BigInteger),
    Column("ticket_id", BigInteger),
    Column("source", String(24), nullable=False),  # agent_reply | ack | keyword | note
    Column("source_id", String(64), nullable=False),
    Column("part", Integer, nullable=False, default=1),
    Column("provider", String(16), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("from_number", String(32)),
    Column("messaging_service_sid", String(64)),
    Column("body", Text, nullable=False),
    Column("media_urls", JSON, nullable=False),
    # intent → sending → sent | rejected | unknown (ambiguous; reconcile before resending)
    Column("send_state", String(16), nullable=False),
    Column("status", String(16)),  # the provider's delivery status, forward only
    Column("provider_message_id", String(64)),
    Column("error_code", String(16)),
    Column("noted", Boolean, nullable=False, default=False),  # failure already noted on ticket
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("source", "source_id", "part", name="uq_outbound_source"),
    Index("ix_outbound_provider_id", "provider", "provider_message_id"),
    Index("ix_outbound_provider_state", "provider", "send_state", "status"),  # /metrics (0006)
    Index("ix_outbound_to_created", "to_number", "created_at"),  # guards (0009)
)

# Outbound MMS attachments, copied from the helpdesk by the worker and served to the SMS provider
# from ``GET /media/<token>`` (signed, expiring): Twilio fetches a MediaUrl without credentials,
# and the web request must not call the helpdesk (connector/web/media.py).
media_blobs = Table(
    "media_blobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),  # random; the signed token names it
    Column("source", String(24), nullable=False),  # agent_reply
    Column("source_id", String(64), nullable=False),  # the comment id
    Column("position", Integer, nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("key", name="uq_media_blob_key"),
    UniqueConstraint("source", "source_id", "position", name="uq_media_blob_source"),
    Index("ix_media_blobs_expires", "expires_at"),
)

helpdesk_users = Table(
    "helpdesk_users",
    metadata,
    Column("helpdesk", String(16), primary_key=True),
    Column("external_id", String(64), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("phone", String(32), primary_key=True),
    Column("channel_key", String(64), primary_key=True),
    Column("opted_out_at", Float, nullable=False),
    Column("source", String(32), nullable=False),
)

kv_table = Table(
    "kv",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

rate_windows = Table(
    "rate_windows",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("window_start", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("blocked_until", Float, nullable=False, default=0.0),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(48), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

# One-shot timers (SLA first response, reminders, escalations): the scheduler enqueues a job of
# ``kind`` once ``due_at`` has passed and stamps ``fired_at`` (connector/store/timers.py). Fired
# rows stay, so setting the same (kind, key) again is a no-op unless re-armed on purpose.
# (``timers_table``, not ``timers``: connector/store/timers.py is the module that writes it.)
timers_table = Table(
    "timers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),  # the job kind it enqueues
    Column("key", String(255), nullable=False),
    Column("due_at", Float, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("fired_at", Float),
    Column("job_id", BigInteger),
    UniqueConstraint("kind", "key", name="uq_timer_kind_key"),
    # Only unfired timers are ever looked for by due time: a partial index stays that small.
    Index("ix_timers_due", "due_at", postgresql_where=text("fired_at IS NULL"),
          sqlite_where=text("fired_at IS NULL")),
)

# When each periodic job (connector/jobs/scheduler.py's registry) runs next: kept in the store so a
# restart or a second scheduler does not run it again before its interval is up.
periodic_runs = Table(
    "periodic_runs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("next_run_at", Float, nullable=False),
    Column("last_run_at", Float),
)

# The SLA ledger (connector/store/sla.py): one row per ticket the connector filed, with what the
# weekly review needs — its scenario and target, when the customer wrote, when the ticket was
# filed, when an agent first answered, when it was solved — and the engine's events (escalated,
# reminded, auto-solved, ...). Facts the connector saw itself; the helpdesk stays the record.
sla_tickets = Table(
    "sla_tickets",
    metadata,
    Column("helpdesk", String(16), primary_key=True),
    Column("ticket_id", BigInteger, primary_key=True),
    Column("conversation_id", BigInteger),
    Column("scenario", String(32)),
    Column("tier", String(8)),
    Column("received_at", Float, nullable=False),  # the customer's first text reached us
    Column("created_at", Float, nullable=False),  # the ticket was filed
    Column("target_seconds", Float),  # the scenario's first-response target
    Column("business_hours", Boolean, nullable=False, default=False),
    Column("due_at", Float),  # when the first response falls due (business time counted)
    Column("after_hours", Boolean, nullable=False, default=False),
    Column("enforced_by", String(16)),  # connector | helpdesk | both | none
    Column("first_response_at", Float),
    Column("solved_at", Float),
    Column("reopens", Integer, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
    Index("ix_sla_tickets_received", "received_at"),
)

sla_events = Table(
    "sla_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("helpdesk", String(16), nullable=False),
    Column("ticket_id", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),  # escalated | reminded | auto_solved | ...
    Column("rule", String(32)),
    Column("at", Float, nullable=False),
    Column("details", JSON, nullable=False),
    Column("dedup", String(191), nullable=False),  # a retried job records its event once
    UniqueConstraint("dedup", name="uq_sla_events_dedup"),
    Index("ix_sla_events_at", "at"),
    Index("ix_sla_events_ticket", "helpdesk", "ticket_id"),
)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """An engine set up for this store: WAL and immediate transactions on SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not parsed.query.get("uri"):
            path = Path(database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            # Customer texts and the webhook signing secret live in it: readable by the owner
            # only. Created here rather than by SQLite (which follows the umask, 0644 usually);
            # SQLite gives the -wal and -shm files the database file's permissions
            # (https://sqlite.org/tempfiles.html), the write-lock file is opened 0600 below.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        _sqlite_setup(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=True)


class _WriteGate:
    """Queues this machine's writers to one SQLite file before they say BEGIN IMMEDIATE.

    Without it writers contend inside SQLite, whose busy handler sleeps 1, 2, 5 … 100 ms between
    retries (https://sqlite.org/c3ref/busy_timeout.html): a webhook would wait tens of
    milliseconds for a lock held for well under one. Threads of a process queue on an RLock;
    processes (``serve`` + ``worker``, several gunicorn workers) on an flock of a file beside the
    database, which the kernel hands over the moment it is released. SQLite's own lock stays the
    guarantee; this only makes waiting for it fast.
    """

    def __init__(self, path: str | None) -> None:
        self._path = path + "-writelock" if path and fcntl is not None else None
        self._open()
        _GATES.add(self)

    def _open(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        if self._path is not None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _after_fork(self) -> None:
        # An flock belongs to the open file description, which a fork shares: two processes
        # locking the inherited descriptor would not exclude each other
        # (https://man7.org/linux/man-pages/man2/flock.2.html). A child opens its own.
        if self._fd is not None:
            os.close(self._fd)
        self._open()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]

    def acquire(self) -> None:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()


_GATES: weakref.WeakSet[_WriteGate] = weakref.WeakSet()


def _reopen_gates_after_fork() -> None:
    for gate in list(_GATES):
        gate._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reopen_gates_after_fork)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is what runs
        # (https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL mode
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No automatic checkpoint at commit: it would land on whichever request crossed the
        # threshold (with an fsync) and show up as its latency. Workers checkpoint instead.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    write_lock = _WriteGate(sqlite_path(str(engine.url)))

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode == "IMMEDIATE":
            write_lock.acquire()
            conn.connection.info["write_locks"] = conn.connection.info.get("write_locks", 0) + 1
        conn.exec_driver_sql(f"BEGIN {mode}")

    def _release(record: Any) -> None:
        for _ in range(record.info.pop("write_locks", 0)):
            write_lock.release()

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
        _release(record)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _release(record)


def checkpoint(engine: Engine) -> None:
    """Fold the WAL back into the database file without waiting for readers (PASSIVE)."""
    with engine.connect() as conn:
        conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]


def reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite a deferred transaction, so it takes no write lock.

    Use it as ``with reading(engine) as conn:``. Everything else begins IMMEDIATE (see above).
    """
    return engine.connect().execution_options(sqlite_begin="DEFERRED")


def sqlite_path(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return os.path.abspath(parsed.database)


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on either backend; True when a row was inserted.

    The unique constraints are the dedupe keys (a provider's message id, a comment id): a repeated
    delivery hits the constraint and changes nothing, without an exception to unwind.
    """
    result = conn.execute(_insert_ignore_statement(conn.dialect.name, table), values)
    return result.first() is not None


@functools.cache
def _insert_ignore_statement(dialect: str, table: Table) -> Any:
    # Built once and executed with a parameter dict: constructing the statement anew on every
    # webhook cost more CPU than running it.
    from sqlalchemy.dialects import postgresql, sqlite

    # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT DO NOTHING whether or
    # not a row went in, so only a returned key tells a new row from a duplicate.
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
