"""Pushes to a default branch start an analysis session, never pushes the app made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.github.context import ANALYZE_JOB, EventContext, repository_group
from bot.github.installation import upsert_installation, upsert_repositories
from bot.github.modifications import is_self_mod_branch

router = Router()

ZERO_SHA = "0" * 40


def is_app_push(data: Mapping[str, Any], bot_login: str) -> bool:
    """Tell whether the app itself made this push (so it must not trigger another run)."""
    sender = data.get("sender") or {}
    pusher = data.get("pusher") or {}
    committer = (data.get("head_commit") or {}).get("committer") or {}
    names = {sender.get("login"), pusher.get("name"), committer.get("username")}
    return bot_login in names or is_self_mod_branch(str(data.get("ref", "")))


def should_analyze(data: Mapping[str, Any], bot_login: str) -> bool:
    """Decide whether a push starts an analysis session."""
    repository = data.get("repository") or {}
    default_ref = f"refs/heads/{repository.get('default_branch')}"
    return (data.get("ref") == default_ref and not data.get("deleted", False)
            and data.get("after", ZERO_SHA) != ZERO_SHA and not is_app_push(data, bot_login))


def build_analyze_payload(data: Mapping[str, Any], delivery_id: str) -> dict[str, Any]:
    """Return the analysis job's payload for a push."""
    repository = data["repository"]
    return {
        "installation_id": (data.get("installation") or {}).get("id"),
        "repository_id": repository["id"], "full_name": repository["full_name"],
        "repository_url": repository.get("url"), "clone_url": repository.get("clone_url"),
        "default_branch": repository.get("default_branch"),
        "commit_sha": data["after"], "trigger": "push", "delivery_id": delivery_id,
        "reply_to": None,
    }


@router.register("push")
async def push(event: sansio.Event, ctx: EventContext) -> None:
    """Enqueue an analysis of the new default-branch head; a newer push supersedes it."""
    if not should_analyze(event.data, ctx.bot_login):
        return
    await remember_repository(ctx, event.data)
    payload = build_analyze_payload(event.data, ctx.delivery_id)
    await ctx.queue.enqueue(
        ANALYZE_JOB, payload, now=ctx.now,
        key=f"analyze:{payload['repository_id']}:{payload['commit_sha']}",
        group_key=repository_group(payload["repository_id"]), supersede=True)


async def remember_repository(ctx: EventContext, data: Mapping[str, Any]) -> None:
    """Make sure the repository (and its installation) of a delivery is recorded."""
    installation = data.get("installation")
    repository = data["repository"]
    async with ctx.sessions.begin() as session:
        if installation is not None:
            owner = repository.get("owner") or {}
            await upsert_installation(session, {
                "id": installation["id"],
                "account": installation.get("account") or {"login": owner.get("login", ""),
                                                            "type": owner.get("type")}})
        installation_id = installation["id"] if installation is not None else None
        await upsert_repositories(session, installation_id, [repository])
