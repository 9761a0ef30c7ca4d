"""Database guards: a modification moves between states by conditional UPDATEs only.

The per-codebase asyncio lock serialises one process; these compare-and-set updates keep
several processes (web servers on one PostgreSQL) from applying or rolling back one
modification twice, or both at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.models import CodeModification


async def claim(sessionmaker: async_sessionmaker[AsyncSession], ids: Sequence[uuid.UUID],
                expected: str, new: str) -> bool:
    """Move every modification from expected to new, or none of them; tell which happened."""
    async with sessionmaker() as db:
        result: CursorResult[Any] = await db.execute(  # type: ignore[assignment]
            update(CodeModification)
            .where(CodeModification.id.in_(list(ids)), CodeModification.status == expected)
            .values(status=new))
        if result.rowcount != len(ids):
            await db.rollback()
            return False
        await db.commit()
        return True


async def finish(sessionmaker: async_sessionmaker[AsyncSession], modification_id: uuid.UUID,
                 expected: str, values: dict[str, Any]) -> None:
    """Write a modification's outcome, only while it still holds the claimed state."""
    async with sessionmaker() as db:
        await db.execute(update(CodeModification)
                         .where(CodeModification.id == modification_id,
                                CodeModification.status == expected)
                         .values(**values))
        await db.commit()
