"""Running Core statements that return one value, on SQLAlchemy or on a plain sqlite3 connection.

The webhook path writes two rows a delivery. Through SQLAlchemy each statement costs about
0.3 ms of CPU (pool checkout, events, result wrapping), most of a delivery's cost; the same
statements compiled once by SQLAlchemy's SQLite dialect and run on sqlite3 cost a tenth.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import Connection
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from bot.store.db import SQLITE_BUSY_TIMEOUT_MS, configure_sqlite_connection

T = TypeVar("T")

# How often, at most, the WAL is copied back into the database while writes go on.
CHECKPOINT_INTERVAL_SECONDS = 0.5


def dump_json(value: Any) -> str:
    """Return a value's JSON text; orjson writes a webhook's job payload in a sixth of the time."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        # Non-string keys, integers beyond 64 bits: the standard encoder takes those.
        return json.dumps(value)


class Statements(Protocol):
    """Runs statements inside one open transaction."""

    def scalar(self, statement: ClauseElement, params: Mapping[str, Any]) -> Any:
        """Run a statement; return the first column of its first row, or None (no rows)."""


class ConnectionStatements:
    """Statements on a SQLAlchemy connection (PostgreSQL, or any caller's transaction)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def scalar(self, statement: ClauseElement, params: Mapping[str, Any]) -> Any:
        """Run a statement; return the first column of its first row, or None (no rows)."""
        assert isinstance(statement, Executable)
        result = self._connection.execute(statement, params)
        return result.scalar() if result.returns_rows else None


class SqliteBusyError(Exception):
    """Another connection holds SQLite's write lock, and this one was told not to wait."""


class SqliteStatements:
    """Statements on one sqlite3 connection, used by one thread at a time.

    Parameters go through the bind processors of SQLAlchemy's SQLite dialect, so rows are
    stored exactly as SQLAlchemy stores them (dates as text, JSON as its text). Results come
    back as sqlite3 gives them, which is right for the ids and counts this is used for.

    Its commits never checkpoint: SQLite's automatic checkpoint copies the WAL into the
    database and syncs it inside whichever commit crosses 1,000 pages, a 10-30 ms stall every
    tenth of a second at 500 webhooks/s. The `checkpointer` thread does that work instead.
    With `wait=False` a transaction that would wait for another writer raises
    `SqliteBusyError` at once instead.
    """

    def __init__(self, path: str, checkpointer: Checkpointer, *, wait: bool = True) -> None:
        self._path = path
        self._wait = wait
        self._dialect = SQLiteDialect_pysqlite(json_serializer=dump_json)
        self._compiled: dict[int, tuple[str, list[tuple[str, Any]], SQLCompiler]] = {}
        self._connection: sqlite3.Connection | None = None
        self._checkpointer = checkpointer

    def transaction(self, work: Callable[[SqliteStatements], T]) -> T:
        """Run `work(self)` in one write transaction (BEGIN IMMEDIATE), committed if it returns."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not self._wait and exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                raise SqliteBusyError(str(exc)) from None
            raise
        try:
            result = work(self)
        except BaseException:
            # SQLite may have rolled back already (a full disk); the first error is the one.
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        self._checkpointer.request()
        return result

    def scalar(self, statement: ClauseElement, params: Mapping[str, Any]) -> Any:
        """Run a statement; return the first column of its first row, or None (no rows)."""
        sql, binds, compiled = self._compile(statement)
        values = compiled.construct_params(dict(params)) or {}
        arguments = [values[name] if process is None else process(values[name])
                     for name, process in binds]
        row = self._connect().execute(sql, arguments).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                                         check_same_thread=False)
            configure_sqlite_connection(connection)
            if not self._wait:
                connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._connection = connection
        return self._connection

    def _compile(self, statement: ClauseElement) -> tuple[str, list[tuple[str, Any]], SQLCompiler]:
        key = id(statement)
        if key not in self._compiled:
            compiled = statement.compile(dialect=self._dialect)
            assert isinstance(compiled, SQLCompiler)
            binds = [(name, compiled.binds[name].type.dialect_impl(self._dialect)
                      .bind_processor(self._dialect))
                     for name in compiled.positiontup or ()]
            # Kept with the entry: a statement id is only unique while the statement lives.
            self._compiled[key] = (compiled.string, binds, compiled)
        return self._compiled[key]


class Checkpointer:
    """Checkpoints a SQLite database's WAL in a thread of its own, when asked, at most so often.

    A PASSIVE checkpoint takes no write lock, so writers go on meanwhile; the thread starts on
    the first request and ends with `stop`.
    """

    def __init__(self, path: str, *, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = 0.0

    def request(self) -> None:
        """Ask for a checkpoint soon (cheap: called after every commit)."""
        now = time.monotonic()
        if now - self._last < self._interval:
            return
        self._last = now
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                            daemon=True)
            self._thread.start()
        self._wanted.set()

    def stop(self) -> None:
        """Run a last checkpoint and end the thread."""
        if self._thread is not None:
            self._stopping.set()
            self._wanted.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            configure_sqlite_connection(connection)
            while True:
                self._wanted.wait()
                self._wanted.clear()
                # Read before the checkpoint: a stop asked for during it gets one more, which
                # covers every commit made before the stop.
                stopping = self._stopping.is_set()
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                if stopping:
                    return
        finally:
            connection.close()
