"""A self-mod pull request closed: the modification was applied, rejected or rolled back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from bot.github.context import EventContext
from bot.github.modifications import (
    SelfModBranch,
    modification_status,
    parse_branch,
    update_modification,
)
from bot.store.models import SuggestionStatus

router = Router()


@dataclass(frozen=True)
class CloseOutcome:
    """What a closed self-mod pull request means for its modification."""

    status: SuggestionStatus
    rating: int
    category: str


def decide_close_outcome(branch: SelfModBranch, *, merged: bool,
                         expired: bool = False) -> CloseOutcome | None:
    """Map (branch kind, merged) to the modification's new status and the feedback it gives.

    `expired`: the app itself closed the proposal for age, which is nobody's no.
    """
    if branch.is_revert:
        # An unmerged revert leaves the modification applied.
        return CloseOutcome(SuggestionStatus.ROLLED_BACK, -1, "rolled_back") if merged else None
    if merged:
        return CloseOutcome(SuggestionStatus.APPLIED, 1, "merged")
    if expired:
        return None
    return CloseOutcome(SuggestionStatus.REJECTED, -1, "closed_unmerged")


def build_status_values(outcome: CloseOutcome, pr: Mapping[str, Any],
                        now: datetime) -> dict[str, Any]:
    """Return the modification columns to set for this outcome."""
    values: dict[str, Any] = {"status": outcome.status.value}
    if outcome.status is SuggestionStatus.APPLIED:
        values.update(applied_at=now, merge_commit_sha=pr.get("merge_commit_sha"),
                      pull_request_number=pr["number"], pull_request_url=pr.get("html_url"))
    elif outcome.status is SuggestionStatus.ROLLED_BACK:
        values.update(rollback_at=now, revert_pull_request_number=pr["number"])
    else:
        values.update(pull_request_number=pr["number"], pull_request_url=pr.get("html_url"))
    return values


@router.register("pull_request", action="closed")
async def pull_request_closed(event: sansio.Event, ctx: EventContext) -> None:
    """Record a closed self-mod pull request as applied, rejected or rolled back."""
    pr = event.data["pull_request"]
    branch = parse_branch(pr["head"]["ref"])
    if branch is None:
        return
    merged = bool(pr.get("merged"))
    expired = not merged and await modification_status(
        ctx.sessions, branch.modification_id) == SuggestionStatus.EXPIRED.value
    outcome = decide_close_outcome(branch, merged=merged, expired=expired)
    if outcome is None:
        return
    feedback = {"repository_id": event.data["repository"]["id"], "source": "pull_request",
                "rating": outcome.rating, "category": outcome.category,
                "author": (event.data.get("sender") or {}).get("login"), "body": None}
    await update_modification(ctx.sessions, branch.modification_id, feedback,
                              **build_status_values(outcome, pr, ctx.now))


@router.register("pull_request", action="reopened")
async def pull_request_reopened(event: sansio.Event, ctx: EventContext) -> None:
    """A person reopened an expired self-mod pull request: it is a proposal again."""
    branch = parse_branch(event.data["pull_request"]["head"]["ref"])
    if branch is None or branch.is_revert:
        return
    status = await modification_status(ctx.sessions, branch.modification_id)
    if status == SuggestionStatus.EXPIRED.value:
        await update_modification(ctx.sessions, branch.modification_id, None,
                                  status=SuggestionStatus.PROPOSED.value)
