"""Stale self-mod pull requests are closed with a comment and recorded as expired, not refused."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from fakes.github import RunningApp
from hubkit import HubRepo, open_self_mod_pull, read_modification, seed_modification, settle
from sqlalchemy import func, select

from bot.clock import utcnow
from bot.github.pacing import load_blocked
from bot.github.proposal import build_fingerprint
from bot.github.publish import list_open_self_mod_pulls
from bot.github.stale import close_stale_pulls, parse_github_time
from bot.store.db import create_sessionmaker
from bot.store.models import Feedback

BOT = "agent-self-modify[bot]"
MAX_AGE = timedelta(days=14)
DIFF = "-a = 1\n+a = 2\n"


async def _feedback(app: RunningApp, modification_id: uuid.UUID) -> int:
    async with app.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Feedback).where(
            Feedback.modification_id == modification_id)) or 0)


async def _close_stale(app: RunningApp, hub_repo: HubRepo) -> list[int]:
    pulls = await list_open_self_mod_pulls(hub_repo.gh, hub_repo.where)
    return await close_stale_pulls(hub_repo.gh, create_sessionmaker(app.engine), pulls,
                                   now=utcnow(), max_age=MAX_AGE)


async def test_stale_proposal_is_closed_with_a_comment_and_expires(
        running_app: RunningApp, hub_repo: HubRepo) -> None:
    """A proposal older than the limit is closed with a comment; a fresh one stays open."""
    old_id, new_id = uuid.uuid4(), uuid.uuid4()
    old = await open_self_mod_pull(hub_repo, old_id, age=timedelta(days=15))
    new = await open_self_mod_pull(hub_repo, new_id, age=timedelta(days=13))
    await seed_modification(running_app.engine, hub_repo.repo.id, number=old.number,
                            modification_id=old_id)
    await seed_modification(running_app.engine, hub_repo.repo.id, number=new.number,
                            modification_id=new_id, diff="-b = 1\n+b = 2\n")
    assert await _close_stale(running_app, hub_repo) == [old.number]
    await settle(running_app, hub_repo.hub)
    assert (old.state, new.state) == ("closed", "open")
    [comment] = old.comments
    assert comment["user"] == BOT and "open for 15 days" in comment["body"]
    assert (await read_modification(running_app.engine, old_id)).status == "expired"
    assert (await read_modification(running_app.engine, new_id)).status == "proposed"


async def test_expired_proposal_is_not_a_reviewers_no(running_app: RunningApp,
                                                      hub_repo: HubRepo) -> None:
    """The closed webhook of an expired proposal records no rejection and blocks nothing."""
    modification_id = uuid.uuid4()
    pull = await open_self_mod_pull(hub_repo, modification_id, age=timedelta(days=30))
    await seed_modification(running_app.engine, hub_repo.repo.id, number=pull.number,
                            modification_id=modification_id, diff=DIFF)
    await _close_stale(running_app, hub_repo)
    await settle(running_app, hub_repo.hub)
    assert (await read_modification(running_app.engine, modification_id)).status == "expired"
    assert await _feedback(running_app, modification_id) == 0
    blocked = await load_blocked(create_sessionmaker(running_app.engine), hub_repo.repo.id)
    assert build_fingerprint(DIFF) not in blocked


async def test_closing_by_a_person_is_a_rejection(running_app: RunningApp,
                                                  hub_repo: HubRepo) -> None:
    """A person closing the proposal unmerged rejects it, with negative feedback, for good."""
    modification_id = uuid.uuid4()
    pull = await open_self_mod_pull(hub_repo, modification_id, age=timedelta(days=1))
    await seed_modification(running_app.engine, hub_repo.repo.id, number=pull.number,
                            modification_id=modification_id, diff=DIFF)
    await hub_repo.hub.close(hub_repo.repo, pull.number, "alice")
    await settle(running_app, hub_repo.hub)
    assert (await read_modification(running_app.engine, modification_id)).status == "rejected"
    assert await _feedback(running_app, modification_id) == 1
    blocked = await load_blocked(create_sessionmaker(running_app.engine), hub_repo.repo.id)
    assert build_fingerprint(DIFF) in blocked


async def test_reopened_expired_proposal_is_proposed_again(running_app: RunningApp,
                                                           hub_repo: HubRepo) -> None:
    """Reopening an expired proposal (as its comment invites) makes it a proposal again."""
    modification_id = uuid.uuid4()
    pull = await open_self_mod_pull(hub_repo, modification_id, age=timedelta(days=30))
    await seed_modification(running_app.engine, hub_repo.repo.id, number=pull.number,
                            modification_id=modification_id)
    await _close_stale(running_app, hub_repo)
    await settle(running_app, hub_repo.hub)
    await hub_repo.hub.reopen(hub_repo.repo, pull.number, "alice")
    await settle(running_app, hub_repo.hub)
    assert (await read_modification(running_app.engine, modification_id)).status == "proposed"


async def test_stale_revert_is_closed_but_the_change_stays_applied(
        running_app: RunningApp, hub_repo: HubRepo) -> None:
    """An old revert pull request is closed; the merged modification it reverts stays applied."""
    modification_id = uuid.uuid4()
    pull = await open_self_mod_pull(hub_repo, modification_id, age=timedelta(days=20),
                                    revert=True)
    await seed_modification(running_app.engine, hub_repo.repo.id, status="applied", number=1,
                            modification_id=modification_id)
    assert await _close_stale(running_app, hub_repo) == [pull.number]
    await settle(running_app, hub_repo.hub)
    assert (await read_modification(running_app.engine, modification_id)).status == "applied"


def test_github_times_become_naive_utc() -> None:
    """GitHub's Z and offset times become naive UTC; anything else is None."""
    assert parse_github_time("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10)
    assert parse_github_time("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10)
    assert parse_github_time("yesterday") is None and parse_github_time(None) is None
