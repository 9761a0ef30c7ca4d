"""Story 4 on GitHub: rules stop after rejections, and the dashboard issue (against the double)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.github import INSTALLATION_ID, RunningApp
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Repo
from bot.github.auth import GitHubApp
from bot.github.dashboard import Dashboard, parse_ticked
from bot.github.gitdata import RepoRef
from bot.github.modifications import update_modification
from bot.learning.suggest import LearningEngine
from bot.settings import Settings
from bot.store.db import create_sessionmaker
from bot.store.models import Feedback, ModificationSession, Repository
from bot.vcs.keys import key_path, load_or_create_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learning"))
from codebases import create_codebase_with_patterns

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
RULE = "append-comprehension"
PERSON = "alice"


@pytest.fixture
def github_settings(github_settings: Settings, tmp_path: Path) -> Settings:
    """Return the double's settings with a data folder (for the signing key)."""
    return dataclasses.replace(github_settings, data_dir=tmp_path / "data")


def git(work: Path, *args: str) -> str:
    """Run git in a work tree."""
    return subprocess.run(["git", "-C", str(work), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


async def hosted_codebase(hub: FakeHub, tmp_path: Path, name: str) -> tuple[Repo, Path, str]:
    """Create a repository on the double holding a generated codebase; return it, its work
    tree and head commit (pushed on disk, so no webhook starts an analysis)."""
    repo = await hub.add_repo("octo-org", name, installation_id=INSTALLATION_ID)
    hub.add_installation(INSTALLATION_ID, "octo-org", [repo])
    codebase = create_codebase_with_patterns(tmp_path / name).path
    git(codebase, "init", "-q", "-b", "main")
    git(codebase, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(codebase, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    git(codebase, "push", "-q", str(repo.path), "main")
    return repo, codebase, git(codebase, "rev-parse", "HEAD")


async def suggest(sessions: async_sessionmaker[AsyncSession], codebase: Path, repo: Repo,
                  head: str) -> Any:
    """Run a suggest-only session and adopt it as the repository's, as the analyze job does."""
    run = await LearningEngine(sessions).run(codebase, ["improve_performance"], "conservative")
    async with sessions.begin() as session:
        if await session.get(Repository, repo.id) is None:
            session.add(Repository(id=repo.id, full_name=repo.full_name, default_branch="main"))
            await session.flush()
        await session.execute(update(ModificationSession).where(
            ModificationSession.id == run.session_id).values(repository_id=repo.id,
                                                             commit_sha=head))
    return run


async def close_unmerged(sessions: async_sessionmaker[AsyncSession],
                         modification_id: uuid.UUID, number: int) -> None:
    """Record what the app records when a self-mod pull request is closed unmerged."""
    await update_modification(sessions, modification_id, {
        "source": "pull_request", "rating": -1, "category": "closed_unmerged",
        "author": PERSON, "body": None}, status="rejected", pull_request_number=number)


async def sync(settings: Settings, sessions: async_sessionmaker[AsyncSession], repo: Repo
               ) -> dict[str, Any]:
    """Bring the repository's dashboard up to date as the app does after a session."""
    app = GitHubApp(settings.require_github())
    dashboard = Dashboard(sessions, load_or_create_key(key_path(settings)),
                          bot_login="agent-self-modify[bot]")
    async with aiohttp.ClientSession() as http:
        gh = await app.installation_api(http, INSTALLATION_ID)
        return await dashboard.sync(gh, RepoRef.parse(repo.full_name, "main"), repo.id,
                                    now=utcnow())


def dashboards(hub: FakeHub, repo: Repo) -> list[Any]:
    """Return the repository's dashboard issues."""
    return [i for i in hub.state.issues[repo.full_name.lower()].values()
            if not i.is_pull and "selfmod:dashboard" in (i.body or "")]


async def test_five_rejections_stop_a_rule_in_one_repository_only(
        running_app: RunningApp, fakehub: FakeHub, github_settings: Settings,
        tmp_path: Path) -> None:
    """After 5 closed pull requests of a rule, it stops in that repository, the dashboard says
    why, and another repository still gets it."""
    sessions = create_sessionmaker(running_app.engine)
    repo_a, code_a, head_a = await hosted_codebase(fakehub, tmp_path, "alpha")
    repo_b, code_b, head_b = await hosted_codebase(fakehub, tmp_path, "beta")
    first = await suggest(sessions, code_a, repo_a, head_a)
    proposals = [s for s in first.suggestions if s.rule_id == RULE]
    assert len(proposals) == 6
    for number, suggestion in enumerate(proposals[:4], 1):
        await close_unmerged(sessions, suggestion.id, number)
    still = await suggest(sessions, code_a, repo_a, head_a)
    assert any(s.rule_id == RULE for s in still.suggestions)  # four rejections are not enough
    await close_unmerged(sessions, proposals[4].id, 5)

    after = await suggest(sessions, code_a, repo_a, head_a)
    assert not any(s.rule_id == RULE for s in after.suggestions)
    assert {r for r, _, _ in after.learning.silenced} == {RULE}
    [why] = {w for _, _, w in after.learning.silenced}
    assert why.startswith("5 of 5 proposals rejected in this repository")
    assert after.learning.to_json()["suppressed_rules"][0]["rule_id"] == RULE
    other = await suggest(sessions, code_b, repo_b, head_b)
    assert len([s for s in other.suggestions if s.rule_id == RULE]) == 6

    await sync(github_settings, sessions, repo_a)
    await sync(github_settings, sessions, repo_b)
    [issue_a] = dashboards(fakehub, repo_a)
    assert f"- `{RULE}`: 5 of 5 proposals rejected in this repository" in (issue_a.body or "")
    [issue_b] = dashboards(fakehub, repo_b)
    assert RULE not in (issue_b.body or "").split("## Suppressed rules")[1]


async def settle(app: RunningApp, hub: FakeHub) -> None:
    """Deliver every webhook and run every job they cause."""
    for _ in range(10):
        await hub.drain()
        if await app.work() == 0:
            return
    raise AssertionError("the app kept finding work")


async def test_dashboard_is_created_once_and_a_tick_opens_one_pull_request(
        running_app: RunningApp, fakehub: FakeHub, github_settings: Settings,
        tmp_path: Path) -> None:
    """The dashboard is created once, edited in place, and a ticked box opens one pull request."""
    sessions = create_sessionmaker(running_app.engine)
    repo, code, head = await hosted_codebase(fakehub, tmp_path, "gamma")
    fakehub.set_permission(repo, PERSON, "write")
    run = await suggest(sessions, code, repo, head)
    pending = run.suggestions[0]
    # The pipeline approved it, but the proposal limits held it back: it is pending.
    await update_modification(sessions, pending.id, None, status="approved", safety_score=1)

    created = await sync(github_settings, sessions, repo)
    assert created["created"] is True
    again = await sync(github_settings, sessions, repo)
    assert (again["created"], again["issue"]) == (False, created["issue"])
    [issue] = dashboards(fakehub, repo)
    assert f"- [ ] <!-- selfmod:pending:{pending.id} --> {pending.title}" in (issue.body or "")
    assert "## Rejected suggestions" in (issue.body or "")

    ticked = (issue.body or "").replace(f"- [ ] <!-- selfmod:pending:{pending.id}",
                                        f"- [x] <!-- selfmod:pending:{pending.id}")
    await fakehub.edit_issue(repo, issue.number, PERSON, ticked)
    await settle(running_app, fakehub)
    # The same tick seen again (a second edit carrying the old text) opens nothing more.
    await fakehub.edit_issue(repo, issue.number, PERSON, ticked)
    await settle(running_app, fakehub)
    await sync(github_settings, sessions, repo)

    pulls = [p for p in fakehub.state.issues[repo.full_name.lower()].values() if p.is_pull]
    assert [p.head for p in pulls] == [f"self-mod/{pending.id}"]
    [issue] = dashboards(fakehub, repo)
    assert issue.number == created["issue"]
    assert parse_ticked(issue.body) == []
    assert f"[#{pulls[0].number}]" in (issue.body or "").split("## Pending")[0]
    fakehub.react(repo, pulls[0].number, PERSON, "-1")
    await sync(github_settings, sessions, repo)
    await sync(github_settings, sessions, repo)
    async with sessions() as session:
        reactions = (await session.execute(select(Feedback.rating).where(
            Feedback.modification_id == pending.id, Feedback.source == "reaction"))).all()
    assert reactions == [(-1,)]
    changed = subprocess.run(["git", "--git-dir", str(repo.path), "diff", "--name-only",
                              head, pulls[0].head_sha or ""], capture_output=True, text=True,
                             check=True).stdout.split()
    assert changed == [pending.files[0].path]
