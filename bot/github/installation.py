"""Installations and their repositories: recorded when added, forgotten when removed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.github.context import EventContext
from bot.store.models import Installation, Repository

router = Router()


async def upsert_installation(session: AsyncSession, data: Mapping[str, Any]) -> None:
    """Record an installation (or bring a forgotten one back)."""
    account = data.get("account") or {}
    row = await session.get(Installation, data["id"])
    if row is None:
        session.add(Installation(id=data["id"], account_login=account.get("login", ""),
                                 account_type=account.get("type")))
        await session.flush()
        return
    row.account_login = account.get("login", row.account_login)
    row.account_type = account.get("type", row.account_type)
    row.deleted_at = None


async def upsert_repositories(session: AsyncSession, installation_id: int | None,
                              repositories: Iterable[Mapping[str, Any]]) -> None:
    """Record repositories of an installation; the default branch when the payload has it."""
    for data in repositories:
        row = await session.get(Repository, data["id"])
        if row is None:
            row = Repository(id=data["id"], full_name=data["full_name"])
            session.add(row)
        row.installation_id = installation_id
        row.full_name = data["full_name"]
        row.private = bool(data.get("private", False))
        row.default_branch = data.get("default_branch") or row.default_branch
        row.removed_at = None


@router.register("installation", action="created")
@router.register("installation", action="new_permissions_accepted")
@router.register("installation", action="unsuspend")
async def installation_created(event: sansio.Event, ctx: EventContext) -> None:
    """Record the installation and the repositories it was given."""
    async with ctx.sessions.begin() as session:
        await upsert_installation(session, event.data["installation"])
        await upsert_repositories(session, event.data["installation"]["id"],
                                  event.data.get("repositories") or [])


@router.register("installation", action="deleted")
@router.register("installation", action="suspend")
async def installation_deleted(event: sansio.Event, ctx: EventContext) -> None:
    """Forget the installation and every repository it covered."""
    installation_id = event.data["installation"]["id"]
    async with ctx.sessions.begin() as session:
        await upsert_installation(session, event.data["installation"])
        await session.execute(update(Installation).where(Installation.id == installation_id)
                              .values(deleted_at=ctx.now))
        await session.execute(update(Repository)
                              .where(Repository.installation_id == installation_id)
                              .values(removed_at=ctx.now))


@router.register("installation_repositories", action="added")
async def repositories_added(event: sansio.Event, ctx: EventContext) -> None:
    """Record the repositories added to the installation."""
    async with ctx.sessions.begin() as session:
        await upsert_installation(session, event.data["installation"])
        await upsert_repositories(session, event.data["installation"]["id"],
                                  event.data.get("repositories_added") or [])


@router.register("installation_repositories", action="removed")
async def repositories_removed(event: sansio.Event, ctx: EventContext) -> None:
    """Forget the repositories removed from the installation."""
    ids = [repo["id"] for repo in event.data.get("repositories_removed") or []]
    await forget_repositories(ctx, ids, now=ctx.now)


async def forget_repositories(ctx: EventContext, ids: list[int], *, now: datetime) -> None:
    """Mark repositories as no longer covered by the app."""
    if not ids:
        return
    async with ctx.sessions.begin() as session:
        await session.execute(update(Repository).where(Repository.id.in_(ids))
                              .values(removed_at=now))
