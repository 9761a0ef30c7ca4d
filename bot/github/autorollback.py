"""Failing checks on the default branch right after a self-mod merge ask for a rollback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.github.context import ROLLBACK_JOB, EventContext, repository_group
from bot.github.modifications import find_by_merge_commit
from bot.store.models import SuggestionStatus

router = Router()

FAILED_CONCLUSIONS = frozenset({"failure", "timed_out"})


def is_default_branch_failure(data: Mapping[str, Any]) -> bool:
    """Tell whether a completed check suite failed on the repository's default branch."""
    suite = data["check_suite"]
    return (suite.get("conclusion") in FAILED_CONCLUSIONS
            and suite.get("head_branch") == data["repository"].get("default_branch"))


def build_rollback_reason(data: Mapping[str, Any]) -> str:
    """Return the reason an automatic rollback gives."""
    suite = data["check_suite"]
    return (f"checks concluded {suite['conclusion']} on {suite['head_branch']} "
            f"at {suite['head_sha'][:12]} after the merge")


@router.register("check_suite", action="completed")
async def check_suite_completed(event: sansio.Event, ctx: EventContext) -> None:
    """Enqueue an automatic rollback when a self-mod merge commit fails its checks."""
    if not is_default_branch_failure(event.data):
        return
    repository = event.data["repository"]
    modification = await find_by_merge_commit(ctx.sessions, repository["id"],
                                              event.data["check_suite"]["head_sha"])
    if modification is None or modification.status != SuggestionStatus.APPLIED.value:
        return
    payload = {
        "modification_id": str(modification.id), "repository_id": repository["id"],
        "installation_id": (event.data.get("installation") or {}).get("id"),
        "full_name": repository["full_name"], "repository_url": repository.get("url"),
        "reason": build_rollback_reason(event.data),
        "automatic": True, "requested_by": None, "delivery_id": ctx.delivery_id,
        "reply_to": None,
    }
    # One automatic rollback per modification, however many suites fail.
    await ctx.queue.enqueue(ROLLBACK_JOB, payload, now=ctx.now,
                            key=f"rollback:{modification.id}",
                            group_key=repository_group(repository["id"]))
