"""What limits a repository's next proposals: open ones, this hour's, and refused ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gidgethub.abc import GitHubAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.github.gitdata import RepoRef
from bot.github.modifications import parse_branch
from bot.github.proposal import build_fingerprint
from bot.github.stale import parse_github_time
from bot.store.models import CodeModification, ModificationSession, SuggestionStatus

HOUR = timedelta(hours=1)
# Open: proposed already. Rejected: closed without merge, a reviewer's no. An expired
# proposal (closed by the app for age) may come back.
BLOCKING_STATUSES = (SuggestionStatus.PROPOSED.value, SuggestionStatus.REJECTED.value)


@dataclass(frozen=True)
class ProposalHistory:
    """The facts `plan_proposals` decides on."""

    blocked: frozenset[str]
    open_count: int
    recent_count: int


def is_proposal(pull: dict[str, Any]) -> bool:
    """Tell whether a pull request is a self-mod proposal (not a revert, not someone's)."""
    branch = parse_branch(str(pull["head"]["ref"]))
    return branch is not None and not branch.is_revert


async def count_opened_since(gh: GitHubAPI, where: RepoRef, since: datetime) -> int:
    """Count the self-mod proposals opened since `since`, by GitHub's `created_at`."""
    count = 0
    async for pull in gh.getiter(where.api("/pulls{?state,sort,direction,per_page}"),
                                 where.args(state="all", sort="created", direction="desc",
                                            per_page=100)):
        created = parse_github_time(pull.get("created_at"))
        if created is not None and created < since:
            break  # newest first: the rest are older
        count += is_proposal(pull)
    return count


async def load_blocked(sessions: async_sessionmaker[AsyncSession],
                       repository_id: int | None) -> frozenset[str]:
    """Return the fingerprints of the repository's open and refused proposals."""
    statement = (select(CodeModification.diff)
                 .join(ModificationSession,
                       CodeModification.session_id == ModificationSession.id)
                 .where(ModificationSession.repository_id == repository_id,
                        CodeModification.pull_request_number.is_not(None),
                        CodeModification.status.in_(BLOCKING_STATUSES)))
    async with sessions() as session:
        diffs = (await session.execute(statement)).scalars().all()
    return frozenset(build_fingerprint(diff or "") for diff in diffs)


async def load_history(gh: GitHubAPI, where: RepoRef, sessions: async_sessionmaker[AsyncSession],
                       repository_id: int | None, open_pulls: list[dict[str, Any]], *,
                       now: datetime) -> ProposalHistory:
    """Gather what limits new proposals from the open pulls, GitHub's list and the database."""
    return ProposalHistory(blocked=await load_blocked(sessions, repository_id),
                           open_count=sum(1 for p in open_pulls if is_proposal(p)),
                           recent_count=await count_opened_since(gh, where, now - HOUR))
