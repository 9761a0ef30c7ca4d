"""Schema migrations, read back from the database itself."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import SchemaNotReadyError, StorageError
from bot.store.db import create_engine
from bot.store.migrate import current_revision, ensure_current, head_revision, upgrade

# The PRD's schema: table -> column -> the type family the database must report.
PRD_COLUMNS: dict[str, dict[str, str]] = {
    "modification_sessions": {
        "id": "uuid", "agent_id": "uuid", "codebase_path": "varchar",
        "modification_goals": "json", "safety_level": "enum", "status": "enum",
        "started_at": "timestamp", "completed_at": "timestamp", "success_rate": "numeric",
    },
    "code_modifications": {
        "id": "uuid", "session_id": "uuid", "file_path": "varchar",
        "modification_type": "varchar", "original_content": "text", "modified_content": "text",
        "modification_reason": "text", "safety_score": "numeric",
        "performance_impact": "numeric", "applied_at": "timestamp", "rollback_at": "timestamp",
    },
    "modification_metrics": {
        "id": "uuid", "modification_id": "uuid", "metric_name": "varchar",
        "baseline_value": "numeric", "modified_value": "numeric",
        "improvement_percentage": "numeric", "measured_at": "timestamp",
    },
    "sandbox_executions": {
        "id": "uuid", "modification_id": "uuid", "execution_type": "varchar",
        "command": "text", "stdout": "text", "stderr": "text", "exit_code": "integer",
        "execution_time_ms": "integer", "memory_usage_mb": "integer",
        "executed_at": "timestamp",
    },
    "agents": {"id": "uuid"},
}
APP_TABLES = ("installations", "repositories", "webhook_deliveries", "feedback",
              "rule_statistics", "jobs")
NUMERIC_PRECISION = {
    ("modification_sessions", "success_rate"): (5, 2),
    ("code_modifications", "safety_score"): (3, 2),
    ("code_modifications", "performance_impact"): (5, 2),
    ("modification_metrics", "baseline_value"): (10, 4),
    ("modification_metrics", "improvement_percentage"): (5, 2),
}


def _family(dialect: str, declared: str) -> set[str]:
    """Return the type names a column of this family may have on the dialect."""
    declared_upper = declared.upper()
    if dialect == "postgresql":
        return {"uuid": {"uuid"}, "varchar": {"character varying"}, "json": {"jsonb"},
                "enum": {"user-defined"}, "timestamp": {"timestamp without time zone"},
                "numeric": {"numeric"}, "text": {"text"}, "integer": {"integer"}}[declared]
    # SQLite reports the declared type text.
    return {"uuid": {"CHAR(32)"}, "varchar": {"VARCHAR"}, "json": {"JSON"},
            "enum": {"VARCHAR"}, "timestamp": {"DATETIME"}, "numeric": {"NUMERIC"},
            "text": {"TEXT"}, "integer": {"INTEGER"}}[declared] | {declared_upper}


async def _columns(engine: AsyncEngine) -> dict[str, dict[str, str]]:
    """Read every table's column types from the database catalogue."""
    if engine.dialect.name == "postgresql":
        query = text("SELECT table_name, column_name, data_type, numeric_precision, "
                     "numeric_scale, udt_name FROM information_schema.columns "
                     "WHERE table_schema = 'public'")
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return _group((r.table_name, r.column_name, r.data_type, r.numeric_precision,
                       r.numeric_scale, r.udt_name) for r in rows)
    async with engine.connect() as connection:
        tables = (await connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table'"))).scalars().all()
        found = []
        for table in tables:
            for row in (await connection.execute(text(f"PRAGMA table_info('{table}')"))).all():
                declared = row.type
                base = declared.split("(")[0]
                precision = scale = None
                if base == "NUMERIC" and "(" in declared:
                    precision, scale = (int(x) for x in declared[8:-1].split(","))
                found.append((table, row.name, base if base != "CHAR" else declared,
                              precision, scale, declared))
    return _group(found)


def _group(rows: Any) -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for table, column, data_type, precision, scale, udt in rows:
        tables.setdefault(table, {})[column] = (data_type, precision, scale, udt)
    return tables


class TestUpgrade:
    async def test_creates_every_prd_table_with_its_columns(self, database_url: str) -> None:
        """`db upgrade` on an empty database creates every PRD table, column and type."""
        engine = create_engine(database_url)
        try:
            await upgrade(engine)
            columns = await _columns(engine)
            dialect = engine.dialect.name
        finally:
            await engine.dispose()
        for table, expected in PRD_COLUMNS.items():
            assert table in columns, table
            for column, family in expected.items():
                assert column in columns[table], f"{table}.{column}"
                data_type = columns[table][column][0]
                kind = data_type if dialect == "sqlite" else data_type.lower()
                assert kind in _family(dialect, family), (table, column, data_type)
        for (table, column), (precision, scale) in NUMERIC_PRECISION.items():
            assert columns[table][column][1:3] == (precision, scale), (table, column)
        for table in APP_TABLES:
            assert table in columns

    async def test_enum_types_exist_on_postgresql(self, database_url: str) -> None:
        """PostgreSQL gets the PRD's named enum types with their values."""
        engine = create_engine(database_url)
        try:
            await upgrade(engine)
            if engine.dialect.name != "postgresql":
                pytest.skip("named enum types exist on PostgreSQL only")
            async with engine.connect() as connection:
                rows = (await connection.execute(text(
                    "SELECT t.typname, e.enumlabel FROM pg_type t "
                    "JOIN pg_enum e ON e.enumtypid = t.oid"))).all()
        finally:
            await engine.dispose()
        labels: dict[str, set[str]] = {}
        for name, label in rows:
            labels.setdefault(name, set()).add(label)
        assert labels["modification_safety"] == {"conservative", "moderate", "aggressive"}
        assert "analyzing" in labels["modification_status"]

    async def test_indexes_of_the_prd_exist(self, migrated_engine: AsyncEngine) -> None:
        """The PRD's two indexes are created."""
        async with migrated_engine.connect() as connection:
            names = await connection.run_sync(
                lambda sync: {index["name"]
                              for table in ("code_modifications", "modification_metrics")
                              for index in inspect(sync).get_indexes(table)})
        assert {"idx_modifications_session", "idx_metrics_modification"} <= names

    async def test_upgrade_twice_is_harmless(self, migrated_engine: AsyncEngine) -> None:
        """Running the upgrade on a current schema changes nothing."""
        await upgrade(migrated_engine)
        assert await current_revision(migrated_engine) == head_revision()


class TestEnsureCurrent:
    async def test_refuses_an_empty_database(self, database_url: str) -> None:
        """A database without the schema is refused with the command that fixes it."""
        engine = create_engine(database_url)
        try:
            with pytest.raises(SchemaNotReadyError, match="selfmod db upgrade"):
                await ensure_current(engine)
        finally:
            await engine.dispose()

    async def test_accepts_a_migrated_database(self, migrated_engine: AsyncEngine) -> None:
        """A database at head passes the check."""
        await ensure_current(migrated_engine)

    async def test_unreachable_database_is_a_storage_error(self) -> None:
        """A database that does not answer gives a storage error without its URL."""
        engine = create_engine("postgresql+asyncpg://user:s3cret@127.0.0.1:1/none")
        try:
            with pytest.raises(StorageError) as caught:
                await ensure_current(engine)
        finally:
            await engine.dispose()
        assert "s3cret" not in str(caught.value)
