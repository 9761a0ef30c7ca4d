"""Self-mod branches and the modification rows behind them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.store.models import CodeModification, Feedback, ModificationSession

BRANCH_PREFIX = "self-mod/"
REVERT_SUFFIX = "-revert"


@dataclass(frozen=True)
class SelfModBranch:
    """A parsed `self-mod/<modification-id>[-revert]` branch name."""

    modification_id: uuid.UUID
    is_revert: bool


def parse_branch(ref: str) -> SelfModBranch | None:
    """Return the modification a branch belongs to, or None for any other branch."""
    name = ref.removeprefix("refs/heads/")
    if not name.startswith(BRANCH_PREFIX):
        return None
    rest = name[len(BRANCH_PREFIX):]
    is_revert = rest.endswith(REVERT_SUFFIX)
    try:
        modification_id = uuid.UUID(rest.removesuffix(REVERT_SUFFIX))
    except ValueError:
        return None
    return SelfModBranch(modification_id, is_revert)


def is_self_mod_branch(ref: str) -> bool:
    """Tell whether a ref or branch name is under `self-mod/`."""
    return ref.removeprefix("refs/heads/").startswith(BRANCH_PREFIX)


async def find_by_pull_request(sessions: async_sessionmaker[AsyncSession], repository_id: int,
                               number: int) -> CodeModification | None:
    """Return the modification proposed by this repository's pull request number."""
    statement = (
        select(CodeModification)
        .join(ModificationSession, CodeModification.session_id == ModificationSession.id)
        .where(ModificationSession.repository_id == repository_id,
               CodeModification.pull_request_number == number)
    )
    async with sessions() as session:
        return (await session.execute(statement)).scalars().first()


async def find_by_merge_commit(sessions: async_sessionmaker[AsyncSession], repository_id: int,
                               sha: str) -> CodeModification | None:
    """Return the modification whose merge produced this commit of the repository."""
    statement = (
        select(CodeModification)
        .join(ModificationSession, CodeModification.session_id == ModificationSession.id)
        .where(ModificationSession.repository_id == repository_id,
               CodeModification.merge_commit_sha == sha)
    )
    async with sessions() as session:
        return (await session.execute(statement)).scalars().first()


async def update_modification(sessions: async_sessionmaker[AsyncSession],
                              modification_id: uuid.UUID, feedback: dict[str, Any] | None,
                              **values: Any) -> bool:
    """Set fields of a modification and add a feedback row, in one transaction.

    Return False when no such modification exists (a branch someone else named self-mod/).
    """
    async with sessions.begin() as session:
        row = await session.get(CodeModification, modification_id)
        if row is None:
            return False
        for name, value in values.items():
            setattr(row, name, value)
        if feedback is not None:
            session.add(Feedback(modification_id=modification_id, **feedback))
        return True


async def modification_status(sessions: async_sessionmaker[AsyncSession],
                              modification_id: uuid.UUID) -> str | None:
    """Return a modification's status, or None when there is no such modification."""
    async with sessions() as session:
        status = await session.scalar(select(CodeModification.status).where(
            CodeModification.id == modification_id))
    return str(status) if status is not None else None
