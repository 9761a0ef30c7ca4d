"""What limits new proposals, read from the double and the database, and the plan it gives."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fakes.github import RunningApp
from hubkit import HubRepo, open_self_mod_pull, seed_modification
from sqlalchemy import update

from bot.clock import utcnow
from bot.github.limits import Candidate, ProposalLimits, SkipReason, plan_proposals
from bot.github.pacing import count_opened_since, load_blocked, load_history
from bot.github.proposal import build_fingerprint
from bot.github.publish import list_open_self_mod_pulls
from bot.store.db import create_sessionmaker
from bot.store.models import CodeModification

BOT = "agent-self-modify[bot]"


async def _history(app: RunningApp, hub_repo: HubRepo) -> object:
    return await load_history(hub_repo.gh, hub_repo.where, create_sessionmaker(app.engine),
                              hub_repo.repo.id,
                              await list_open_self_mod_pulls(hub_repo.gh, hub_repo.where),
                              now=utcnow())


async def test_hourly_count_is_by_when_the_pull_request_was_opened(hub_repo: HubRepo) -> None:
    """Only proposals opened in the last hour count: not older ones, reverts or people's."""
    await open_self_mod_pull(hub_repo, uuid.uuid4(), age=timedelta(minutes=30))
    await open_self_mod_pull(hub_repo, uuid.uuid4(), age=timedelta(hours=2))
    await open_self_mod_pull(hub_repo, uuid.uuid4(), age=timedelta(minutes=10), revert=True)
    await hub_repo.set_branch("feature", hub_repo.root)
    await hub_repo.hub.open_pull(hub_repo.repo, "feature", "main", "mine", "alice")
    since = utcnow() - timedelta(hours=1)
    assert await count_opened_since(hub_repo.gh, hub_repo.where, since) == 1


async def test_closed_proposals_of_this_hour_still_count(hub_repo: HubRepo) -> None:
    """A proposal opened and closed within the hour still counts against the hourly limit."""
    pull = await open_self_mod_pull(hub_repo, uuid.uuid4(), age=timedelta(minutes=5))
    await hub_repo.hub.close(hub_repo.repo, pull.number, "alice")
    assert await count_opened_since(hub_repo.gh, hub_repo.where,
                                    utcnow() - timedelta(hours=1)) == 1


async def test_hourly_count_reads_every_page(hub_repo: HubRepo) -> None:
    """More proposals than one page holds are all counted (pagination is followed)."""
    for _ in range(3):
        await open_self_mod_pull(hub_repo, uuid.uuid4(), age=timedelta(minutes=1))
    pages = []
    async for pull in hub_repo.gh.getiter(hub_repo.where.api("/pulls{?state,per_page}"),
                                          {"state": "all", "per_page": 2}):
        pages.append(pull["number"])
    assert sorted(pages) == [1, 2, 3]
    assert await count_opened_since(hub_repo.gh, hub_repo.where,
                                    utcnow() - timedelta(hours=1)) == 3


async def test_a_modification_row_made_long_ago_counts_when_opened_now(
        running_app: RunningApp, hub_repo: HubRepo) -> None:
    """A suggestion analysed hours ago but opened now counts; the row's age does not matter."""
    modification_id = uuid.uuid4()
    pull = await open_self_mod_pull(hub_repo, modification_id, age=timedelta(minutes=1))
    await seed_modification(running_app.engine, hub_repo.repo.id, number=pull.number,
                            modification_id=modification_id)
    async with running_app.engine.begin() as connection:
        await connection.execute(update(CodeModification).values(
            created_at=utcnow() - timedelta(hours=5)))
    history = await _history(running_app, hub_repo)
    assert (history.recent_count, history.open_count) == (1, 1)


async def test_blocked_are_open_and_refused_proposals_only(running_app: RunningApp,
                                                           hub_repo: HubRepo) -> None:
    """Open and closed-unmerged proposals block their change; expired and merged ones do not."""
    diffs = {status: f"-x = 1\n+x = '{status}'\n" for status in
             ("proposed", "rejected", "expired", "applied")}
    for number, (status, diff) in enumerate(diffs.items(), start=1):
        await seed_modification(running_app.engine, hub_repo.repo.id, status=status,
                                diff=diff, number=number)
    await seed_modification(running_app.engine, hub_repo.repo.id, status="rejected",
                            diff="-never proposed\n", number=None)
    blocked = await load_blocked(create_sessionmaker(running_app.engine), hub_repo.repo.id)
    assert blocked == {build_fingerprint(diffs["proposed"]), build_fingerprint(diffs["rejected"])}


@pytest.mark.parametrize(("open_now", "opened_this_hour", "expected"), [
    (3, 0, SkipReason.OPEN_LIMIT), (1, 2, SkipReason.HOURLY_LIMIT), (0, 0, None)])
async def test_limits_from_the_history(running_app: RunningApp, hub_repo: HubRepo,
                                       open_now: int, opened_this_hour: int,
                                       expected: SkipReason | None) -> None:
    """Three open proposals, or two opened this hour, stop the next; otherwise it goes."""
    for index in range(max(open_now, opened_this_hour)):
        age = timedelta(minutes=10) if index < opened_this_hour else timedelta(days=1)
        await open_self_mod_pull(hub_repo, uuid.uuid4(), age=age)
    history = await _history(running_app, hub_repo)
    [verdict] = plan_proposals([Candidate("m", "new-fingerprint")],
                               open_count=history.open_count,
                               recent_count=history.recent_count, blocked=history.blocked,
                               limits=ProposalLimits(max_open=3, per_hour=2))
    assert verdict.reason is expected and verdict.propose is (expected is None)


async def test_same_change_as_an_open_or_refused_one_is_not_proposed(
        running_app: RunningApp, hub_repo: HubRepo) -> None:
    """A suggestion identical to an open or a closed-unmerged proposal is skipped as duplicate."""
    open_diff, refused_diff = "-a = 1\n+a = 2\n", "-b = 1\n+b = 2\n"
    await seed_modification(running_app.engine, hub_repo.repo.id, status="proposed",
                            diff=open_diff, number=1)
    await seed_modification(running_app.engine, hub_repo.repo.id, status="rejected",
                            diff=refused_diff, number=2)
    history = await _history(running_app, hub_repo)
    # The same changes found again at other line numbers are still the same change.
    candidates = [Candidate("open", build_fingerprint("@@ -9 +9 @@\n" + open_diff)),
                  Candidate("refused", build_fingerprint("@@ -3 +3 @@\n" + refused_diff)),
                  Candidate("fresh", build_fingerprint("-c = 1\n+c = 2\n"))]
    verdicts = plan_proposals(candidates, open_count=history.open_count,
                              recent_count=history.recent_count, blocked=history.blocked,
                              limits=ProposalLimits(max_open=3, per_hour=2))
    assert [(v.modification_id, v.reason) for v in verdicts] == [
        ("open", SkipReason.DUPLICATE), ("refused", SkipReason.DUPLICATE), ("fresh", None)]
