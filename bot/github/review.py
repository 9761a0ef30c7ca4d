"""Reviews of self-mod pull requests become feedback."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from bot.github.commands import COMMAND_PREFIX, is_bot
from bot.github.context import EventContext
from bot.github.modifications import find_by_pull_request, parse_branch, update_modification
from bot.learning.categories import classify
from bot.learning.feedback import record_feedback

router = Router()

# GitHub sends review states in lower case in webhooks, upper case in the REST API.
_RATINGS = {"approved": 1, "changes_requested": -1, "commented": 0, "dismissed": 0}


def build_review_rating(state: str) -> int:
    """Return the rating a review state gives: approval +1, changes requested -1, else 0."""
    return _RATINGS.get(state.lower(), 0)


@router.register("pull_request_review", action="submitted")
async def pull_request_review_submitted(event: sansio.Event, ctx: EventContext) -> None:
    """Record the review's state and body as feedback on the modification."""
    branch = parse_branch(event.data["pull_request"]["head"]["ref"])
    if branch is None or branch.is_revert:
        return
    review = event.data["review"]
    state = str(review.get("state", "commented")).lower()
    feedback = {"repository_id": event.data["repository"]["id"], "source": "review",
                "rating": build_review_rating(state), "category": state,
                "body": review.get("body"), "author": (review.get("user") or {}).get("login")}
    await update_modification(ctx.sessions, branch.modification_id, feedback)


def build_comment_rating(body: str) -> int:
    """Return the rating a comment gives: -1 when it complains (a known category), else 0."""
    return -1 if classify(body) else 0


@router.register("issue_comment", action="created")
async def self_mod_pull_request_commented(event: sansio.Event, ctx: EventContext) -> None:
    """Record a person's comment on a self-mod pull request as feedback (commands aside)."""
    comment = event.data["comment"]
    body = str(comment.get("body") or "")
    user = comment.get("user") or {}
    if ("pull_request" not in event.data["issue"] or is_bot(user)
            or body.strip().lower().startswith(COMMAND_PREFIX)):
        return
    repository_id = event.data["repository"]["id"]
    modification = await find_by_pull_request(ctx.sessions, repository_id,
                                              event.data["issue"]["number"])
    if modification is None:
        return
    await record_feedback(ctx.sessions, modification.id, source="comment",
                          rating=build_comment_rating(body), body=body,
                          author=user.get("login"), repository_id=repository_id)
