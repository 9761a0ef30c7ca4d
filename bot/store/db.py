"""Database engines and sessions for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, TextClause, bindparam, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL names SQLite."""
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                     **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    # No pre-ping: it costs a round trip per transaction on the queue's hot path. Connections
    # are recycled instead, and a dropped one fails one transaction, which callers retry.
    kwargs.setdefault("pool_recycle", 300)
    kwargs.setdefault("pool_size", 10)
    return create_async_engine(url, **kwargs)


def create_sync_sqlite_engine(url: str, *, autocommit: bool = False) -> Engine:
    """Create a blocking engine on the same SQLite file, with the same pragmas."""
    engine = create_sync_engine(url.replace("sqlite+aiosqlite://", "sqlite://", 1),
                                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    if not autocommit:
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    configure_sqlite_connection(dbapi_connection)


def configure_sqlite_connection(dbapi_connection: Any) -> None:
    """Set up a new sqlite3 connection: WAL, foreign keys, busy timeout, explicit BEGIN."""
    # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves below, and
    # without it (autocommit engines) each statement commits by itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock when the transaction starts, so two writers wait on the busy
    # timeout instead of failing with "database is locked" when a read upgrades to a write.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Return the session factory used everywhere (objects stay usable after commit)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def build_insert_ignore(table: Table, columns: tuple[str, ...], *, conflict: str,
                        returning: str) -> TextClause:
    """Return `INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING returning` with typed binds.

    The same text runs on SQLite and PostgreSQL. It is written as text because SQLAlchemy's
    dialect-specific INSERT constructs are not cached and would be compiled on every call,
    which dominates the cost of the webhook and queue hot paths.
    """
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join(f":{name}" for name in columns)
    statement = text(f'INSERT INTO {table.name} ({names}) VALUES ({values}) '
                     f'ON CONFLICT ("{conflict}") DO NOTHING RETURNING "{returning}"')
    return statement.bindparams(*(bindparam(name, type_=table.c[name].type)
                                  for name in columns))
