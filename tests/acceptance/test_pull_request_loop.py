"""The pull-request loop end to end against the GitHub double: propose, merge, roll back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.github import INSTALLATION_ID, RunningApp
from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.demo import push_sample
from bot.fakehub.contract import check_log
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Issue, Repo
from bot.settings import Settings
from bot.store.models import CodeModification

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SANDBOX_IMAGE = "selfmod-sandbox:latest"
PERSON = "alice"


@pytest.fixture
def github_settings(github_settings: Settings, tmp_path: Path) -> Settings:
    """Return the double's settings with a data folder and the sandbox image."""
    return dataclasses.replace(github_settings, data_dir=tmp_path / "data",
                               sandbox_image=SANDBOX_IMAGE)


async def settle(app: RunningApp, hub: FakeHub, rounds: int = 20) -> None:
    """Deliver every webhook and run every job they cause, until nothing is left."""
    for _ in range(rounds):
        await hub.drain()
        if await app.work() == 0:
            await hub.drain()
            if await app.work() == 0:
                return
    raise AssertionError("the app kept finding work")


def self_mod_pulls(hub: FakeHub, repo: Repo, *, revert: bool) -> list[Issue]:
    """Return the repository's pull requests from self-mod (or revert) branches."""
    return [p for p in hub.state.issues[repo.full_name.lower()].values()
            if p.is_pull and (p.head or "").startswith("self-mod/")
            and (p.head or "").endswith("-revert") == revert]


def git_out(repo: Repo, *args: str) -> str:
    """Run git on the double's bare repository."""
    return subprocess.run(["git", "--git-dir", str(repo.path), *args], capture_output=True,
                          text=True, check=True).stdout.strip()


async def dump_database(engine: AsyncEngine) -> str:
    """Return every row of every table as text."""
    metadata = MetaData()
    async with engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
        rows = []
        for table in metadata.sorted_tables:
            result = await connection.execute(text(f'SELECT * FROM "{table.name}"'))
            rows += [repr(tuple(row)) for row in result]
    return "\n".join(rows)


async def modification(engine: AsyncEngine, modification_id: uuid.UUID) -> Any:
    """Return the modification row."""
    async with engine.connect() as connection:
        return (await connection.execute(select(CodeModification).where(
            CodeModification.id == modification_id))).one()


@pytest.fixture
def docker_ready() -> None:
    """Skip unless Docker answers and the sandbox image is built."""
    found = subprocess.run(["docker", "image", "inspect", SANDBOX_IMAGE], capture_output=True,
                           check=False)
    if found.returncode != 0:
        pytest.skip(f"needs Docker and {SANDBOX_IMAGE} (scripts/build-sandbox-image.sh)")


async def test_push_proposes_merge_applies_comment_rolls_back(
        docker_ready: None, running_app: RunningApp, fakehub: FakeHub,
        github_settings: Settings, github_request_log: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """A planted hot spot becomes a signed PR with evidence; merge applies; a comment reverts."""
    caplog.set_level("DEBUG")
    repo = await fakehub.add_repo("octo-org", "graphs", installation_id=INSTALLATION_ID)
    fakehub.set_permission(repo, PERSON, "write")
    before_push = len(fakehub.state.requests)
    await asyncio.to_thread(push_sample, fakehub, repo, tmp_path / "work")
    await settle(running_app, fakehub)

    [pull] = self_mod_pulls(fakehub, repo, revert=False)
    modification_id = uuid.UUID(pull.head.removeprefix("self-mod/"))
    message = git_out(repo, "log", "-1", "--format=%B", pull.head_sha or "")
    assert message.startswith(f"Self-modification: {modification_id}: Speed up `breadth_first`")
    assert "Selfmod-Signature: v1 " in message
    assert git_out(repo, "log", "-1", "--format=%an", pull.head_sha or "") == \
        "agent-self-modify[bot]"
    commits = [r for r in fakehub.state.requests[before_push:]
               if r["method"] == "POST" and r["path"].endswith("/git/commits")]
    assert commits and all("author" not in r["body"] and "committer" not in r["body"]
                           for r in commits)
    assert pull.head_sha in fakehub.state.verified_commits
    assert "| median time |" in (pull.body or "") and "```mermaid" in (pull.body or "")
    assert {"selfmod", "performance"} <= set(pull.labels)
    runs = [r for r in fakehub.state.check_runs.values() if r["head_sha"] == pull.head_sha]
    assert [r["name"] for r in runs] == ["selfmod"]

    env = {**os.environ, "SELFMOD_DATA_DIR": str(github_settings.data_dir),
           "DATABASE_URL": github_settings.database_url}
    selfmod = [sys.executable, "-m", "bot.cli", "verify"]
    verified = subprocess.run([*selfmod, pull.head_sha or "", "--repo", str(repo.path)],
                              capture_output=True, text=True, env=env, check=False)
    assert verified.returncode == 0 and ": OK: " in verified.stdout, verified.stdout

    row = await modification(running_app.engine, modification_id)
    assert (row.status, row.pull_request_number, row.commit_sha, row.branch) == (
        "proposed", pull.number, pull.head_sha, pull.head)

    merge = await fakehub.merge(repo, pull.number, PERSON)
    await settle(running_app, fakehub)
    row = await modification(running_app.engine, modification_id)
    assert (row.status, row.merge_commit_sha) == ("applied", merge) and row.applied_at

    await fakehub.comment(repo, pull.number, PERSON, "/selfmod rollback slower in prod")
    await settle(running_app, fakehub)
    [revert] = self_mod_pulls(fakehub, repo, revert=True)
    assert revert.head == f"self-mod/{modification_id}-revert"
    tree_before_merge = git_out(repo, "rev-parse", f"{merge}^1^{{tree}}")
    assert git_out(repo, "rev-parse", f"{revert.head_sha}^{{tree}}") == tree_before_merge
    assert f"#{pull.number}" in (revert.body or "") and "> slower in prod" in (revert.body or "")
    assert any(f"#{revert.number}" in c["body"] for c in fakehub.issue(repo, pull.number).comments
               if c["user"].endswith("[bot]"))
    revert_message = git_out(repo, "log", "-1", "--format=%B", revert.head_sha or "")
    assert revert_message.startswith(f"Self-modification: {modification_id}: Revert")
    assert subprocess.run([*selfmod, revert.head_sha or "", "--repo", str(repo.path)],
                          env=env, capture_output=True, check=False).returncode == 0
    row = await modification(running_app.engine, modification_id)
    assert (row.rollback_reason, row.revert_pull_request_number) == ("slower in prod",
                                                                     revert.number)
    assert row.rollback_at is not None

    assert check_log(github_request_log) == []
    tokens = list(fakehub.state.tokens)
    assert tokens
    database = await dump_database(running_app.engine)
    workspace_configs = "".join(p.read_text() for p in
                                (github_settings.data_dir / "workspaces").glob("*/.git/config"))
    for token in tokens:
        assert token not in caplog.text
        assert token not in database
        assert token not in workspace_configs
    assert json.dumps(fakehub.state.deliveries)  # every delivery was JSON the app accepted


async def test_analyze_command_replies_when_done_and_skips_the_open_change(
        docker_ready: None, running_app: RunningApp, fakehub: FakeHub,
        tmp_path: Path) -> None:
    """`/selfmod analyze` gets eyes at once and, once analysed, a reply; the open change is
    not proposed twice."""
    repo = await fakehub.add_repo("octo-org", "graphs", installation_id=INSTALLATION_ID)
    fakehub.set_permission(repo, PERSON, "write")
    await asyncio.to_thread(push_sample, fakehub, repo, tmp_path / "work")
    await settle(running_app, fakehub)
    [pull] = self_mod_pulls(fakehub, repo, revert=False)

    issue = fakehub.open_issue(repo, "Please look again", PERSON)
    command = await fakehub.comment(repo, issue.number, PERSON, "/selfmod analyze")
    await settle(running_app, fakehub)
    assert [r["content"] for r in issue.reactions
            if r.get("comment_id") == command["id"]] == ["eyes"]
    replies = [c["body"] for c in issue.comments if c["user"].endswith("[bot]")]
    assert len(replies) == 1 and replies[0].startswith("Analysed "), replies
    assert "not proposed (duplicate)" in replies[0]
    assert self_mod_pulls(fakehub, repo, revert=False) == [pull]
