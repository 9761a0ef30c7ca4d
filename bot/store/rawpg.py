"""Core statements compiled once and run on a plain asyncpg pool (the job queue's hot path).

SQLAlchemy's async adaptation costs about a millisecond of CPU per statement; on a 2-core
machine that alone caps the queue below its goal. The statements are still written with
SQLAlchemy Core and compiled by its asyncpg dialect, so the SQL is the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


async def _json_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=json.dumps, decoder=json.loads,
                                        schema="pg_catalog")


class RawStatements:
    """Run prepared Core statements on the queue's own small asyncpg pool."""

    def __init__(self, engine: AsyncEngine, *, max_size: int = 4) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._dialect: Dialect = engine.dialect
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._compiled: dict[int, tuple[str, tuple[str, ...], SQLCompiler]] = {}

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def fetchrow(self, statement: ClauseElement,
                       params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Run a statement and return its first row, or None."""
        sql, args = self._prepare(statement, params)
        pool = await self._get_pool()
        row = await pool.fetchrow(sql, *args)
        return dict(row) if row is not None else None

    async def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> int:
        """Run a statement and return how many rows it changed."""
        sql, args = self._prepare(statement, params)
        pool = await self._get_pool()
        status = await pool.execute(sql, *args)
        # asyncpg returns the command tag, e.g. "UPDATE 1".
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1,
                                                   max_size=self._max_size, init=_json_codecs)
        return self._pool

    def _prepare(self, statement: ClauseElement,
                 params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        key = id(statement)
        if key not in self._compiled:
            compiled = statement.compile(dialect=self._dialect)
            assert isinstance(compiled, SQLCompiler)
            order = tuple(compiled.positiontup or ())
            self._compiled[key] = (compiled.string, order, compiled)
        sql, order, compiled = self._compiled[key]
        values = compiled.construct_params(dict(params)) or {}
        return sql, [values[name] for name in order]
