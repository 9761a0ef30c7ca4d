"""Schema migrations through Alembic: upgrade, and the check that the schema is current."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import SchemaNotReadyError, StorageError
from bot.settings import Settings
from bot.store.db import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """Build the Alembic configuration in code (no alembic.ini needed at run time)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """Return the newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Create or upgrade the schema on the engine's database."""

    def run(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"cannot migrate the database: {_describe(exc)}") from exc


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the database's schema revision, or None when it has none."""

    def read(connection: Any) -> str | None:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
        return revision

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"cannot reach the database: {_describe(exc)}") from exc


async def ensure_current(engine: AsyncEngine) -> None:
    """Refuse to go on when the schema is missing or behind; say which command fixes it."""
    revision = await current_revision(engine)
    if revision != head_revision():
        state = "has no schema" if revision is None else f"is at revision {revision}"
        raise SchemaNotReadyError(
            f"the database {state}, this code needs {head_revision()}: run `selfmod db upgrade`"
        )


def _describe(exc: BaseException) -> str:
    # The driver's message, never the URL: it may carry a password.
    original = getattr(exc, "orig", None) or exc
    first_line = str(original).splitlines()[0] if str(original) else ""
    return f"{original.__class__.__name__}: {first_line}"


def upgrade_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `selfmod db upgrade`."""
    import asyncio

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"database schema at revision {head_revision()}")
    return 0
