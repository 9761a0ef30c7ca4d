"""Reviews of self-mod pull requests become feedback."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from bot.github.context import EventContext
from bot.github.modifications import parse_branch, update_modification

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
