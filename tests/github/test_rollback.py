"""The rollback_modification job against the GitHub double (no sandbox needed)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.github import INSTALLATION_ID, RunningApp
from sqlalchemy import select

from bot.engine.demo import PERSON, push_sample
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Repo
from bot.settings import Settings
from bot.store.db import create_sessionmaker
from bot.store.models import CodeModification, Job, ModificationSession, Repository


@pytest.fixture
def github_settings(github_settings: Settings, tmp_path: Path) -> Settings:
    """Keep the workspaces and the signing key in the test's folder."""
    return dataclasses.replace(github_settings, data_dir=tmp_path / "data")


async def _git(work: Path, *args: str) -> str:
    argv = ["git", "-c", "core.hooksPath=/dev/null", "-c", f"user.name={PERSON}",
            "-c", f"user.email={PERSON}@example.com", "-C", str(work), *args]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                   check=True, timeout=60)
    return done.stdout.strip()


async def settle(app: RunningApp, hub: FakeHub) -> None:
    """Deliver every webhook and run every job, until nothing is left."""
    for _ in range(20):
        await hub.drain()
        if await app.work() == 0:
            return


async def proposed(app: RunningApp, hub: FakeHub, tmp_path: Path) -> tuple[Repo, Path,
                                                                           uuid.UUID, int]:
    """Push the sample, then a self-mod branch with its PR and modification row."""
    repo = await hub.add_repo("octo-org", "graphs", installation_id=INSTALLATION_ID)
    hub.set_permission(repo, PERSON, "write")
    work = tmp_path / "work"
    await asyncio.to_thread(push_sample, hub, repo, work)
    modification_id = uuid.uuid4()
    branch = f"self-mod/{modification_id}"
    remote = hub.base_url.replace("http://", f"http://{PERSON}:{hub.user_token(PERSON)}@") \
        + f"/{repo.full_name}.git"
    await _git(work, "checkout", "-q", "-b", branch)
    walk = work / "graphs" / "walk.py"
    walk.write_text(walk.read_text().replace("queue.pop(0)", "queue.pop(0)  # hot"))
    await _git(work, "commit", "-qam", "change")
    await _git(work, "push", "-q", remote, f"HEAD:refs/heads/{branch}")
    pull = await hub.open_pull(repo, branch, "main", "Speed up `walk`", PERSON)
    async with create_sessionmaker(app.engine).begin() as session:
        if await session.get(Repository, repo.id) is None:
            session.add(Repository(id=repo.id, full_name=repo.full_name, default_branch="main"))
            await session.flush()
        run = ModificationSession(codebase_path=repo.full_name, repository_id=repo.id)
        session.add(run)
        await session.flush()
        session.add(CodeModification(id=modification_id, session_id=run.id,
                                     file_path="graphs/walk.py", status="proposed",
                                     title="Speed up walk", branch=branch,
                                     pull_request_number=pull.number,
                                     pull_request_url=f"{hub.base_url}/pull/{pull.number}"))
    await settle(app, hub)
    return repo, work, modification_id, pull.number


async def row_of(app: RunningApp, modification_id: uuid.UUID) -> Any:
    """Return the modification row."""
    async with app.engine.connect() as connection:
        return (await connection.execute(select(CodeModification).where(
            CodeModification.id == modification_id))).one()


def bare(repo: Repo, *args: str) -> str:
    """Run git on the double's repository."""
    return subprocess.run(["git", "--git-dir", str(repo.path), *args], capture_output=True,
                          text=True, check=True).stdout.strip()


async def test_rollback_of_a_merged_change_opens_a_revert(running_app: RunningApp,
                                                          fakehub: FakeHub,
                                                          tmp_path: Path) -> None:
    """A writer's rollback opens a revert PR with the tree from before the merge."""
    repo, _, modification_id, number = await proposed(running_app, fakehub, tmp_path)
    merge = await fakehub.merge(repo, number, PERSON)
    await settle(running_app, fakehub)
    await fakehub.comment(repo, number, PERSON, "/selfmod rollback slower in prod")
    await settle(running_app, fakehub)
    [revert] = [p for p in fakehub.state.issues[repo.full_name.lower()].values()
                if (p.head or "").endswith("-revert")]
    assert bare(repo, "rev-parse", f"{revert.head_sha}^{{tree}}") == bare(
        repo, "rev-parse", f"{merge}^1^{{tree}}")
    assert "> slower in prod" in (revert.body or "")
    assert set(revert.labels) == {"selfmod", "revert"}
    replies = [c["body"] for c in fakehub.issue(repo, number).comments
               if c["user"].endswith("[bot]")]
    assert any(f"#{revert.number}" in body for body in replies)
    row = await row_of(running_app, modification_id)
    assert (row.rollback_reason, row.revert_pull_request_number) == ("slower in prod",
                                                                     revert.number)


async def test_automatic_rollback_records_the_fixed_reason(running_app: RunningApp,
                                                           fakehub: FakeHub,
                                                           tmp_path: Path) -> None:
    """Failing checks on the merge commit open the revert with `automatic: checks failed`."""
    repo, _, modification_id, number = await proposed(running_app, fakehub, tmp_path)
    merge = await fakehub.merge(repo, number, PERSON)
    await settle(running_app, fakehub)
    await fakehub.complete_check_suite(repo, merge, "failure")
    await settle(running_app, fakehub)
    row = await row_of(running_app, modification_id)
    assert row.rollback_reason == "automatic: checks failed"
    revert = fakehub.issue(repo, row.revert_pull_request_number)
    assert "automatic: checks failed (checks concluded failure" in (revert.body or "")


async def test_rollback_of_an_open_proposal_withdraws_it(running_app: RunningApp,
                                                         fakehub: FakeHub,
                                                         tmp_path: Path) -> None:
    """On an unmerged self-mod PR the rollback closes it and deletes its branch."""
    repo, _, modification_id, number = await proposed(running_app, fakehub, tmp_path)
    await fakehub.comment(repo, number, PERSON, "/selfmod rollback not wanted")
    await settle(running_app, fakehub)
    pull = fakehub.issue(repo, number)
    assert pull.state == "closed" and not pull.merged
    assert f"refs/heads/{pull.head}" not in bare(repo, "for-each-ref")
    row = await row_of(running_app, modification_id)
    assert (row.status, row.rollback_reason) == ("rejected", "not wanted")


async def test_conflicting_rollback_says_why_and_how_to_retry(running_app: RunningApp,
                                                              fakehub: FakeHub,
                                                              tmp_path: Path) -> None:
    """When later work conflicts with the revert, the user is told why and how to retry."""
    repo, work, _, number = await proposed(running_app, fakehub, tmp_path)
    await fakehub.merge(repo, number, PERSON)
    await settle(running_app, fakehub)
    token = fakehub.user_token(PERSON)
    remote = fakehub.base_url.replace("http://", f"http://{PERSON}:{token}@") \
        + f"/{repo.full_name}.git"
    await _git(work, "fetch", "-q", remote, "main")
    await _git(work, "checkout", "-q", "-B", "main", "FETCH_HEAD")
    walk = work / "graphs" / "walk.py"
    walk.write_text(walk.read_text().replace("queue.pop(0)  # hot", "queue.pop(0)  # hotter"))
    await _git(work, "commit", "-qam", "later work")
    await _git(work, "push", "-q", remote, "HEAD:main")
    await settle(running_app, fakehub)
    await fakehub.comment(repo, number, PERSON, "/selfmod rollback slower")
    await settle(running_app, fakehub)
    replies = [c["body"] for c in fakehub.issue(repo, number).comments
               if c["user"].endswith("[bot]")]
    assert any("conflicts" in body and "/selfmod rollback <reason>" in body
               for body in replies), replies
    async with running_app.engine.connect() as connection:
        job = (await connection.execute(select(Job).where(
            Job.kind == "rollback_modification"))).one()
    assert job.status == "dead"
