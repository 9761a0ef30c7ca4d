"""The GitHub double serves git smart HTTP with token auth and merges with real commits."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from fakes.github import INSTALLATION_ID, app_private_key, fakehub, github_request_log  # noqa: F401

from bot.fakehub.server import FakeHub

IDENTITY = ["-c", "user.name=Alice", "-c", "user.email=alice@example.com"]


async def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, ["git", *args], cwd=cwd,
                                   capture_output=True, text=True, timeout=60)


async def test_clone_needs_a_token(fakehub: FakeHub, tmp_path: Path) -> None:
    """A clone with a wrong token is refused (401)."""
    await fakehub.add_repo("o", "r", installation_id=INSTALLATION_ID)
    url = fakehub.base_url.replace("http://", "http://x-access-token:wrong@") + "/o/r.git"
    result = await _git("clone", url, str(tmp_path / "c"))
    assert result.returncode != 0 and "Authentication failed" in result.stderr


async def test_human_push_sends_push_webhooks_and_merge_makes_merge_commit(
        fakehub: FakeHub, tmp_path: Path) -> None:
    """A person's pushes become push webhooks, and a merge is a two-parent commit."""
    repo = await fakehub.add_repo("o", "r", installation_id=INSTALLATION_ID)
    url = fakehub.base_url.replace("http://", f"http://alice:{fakehub.user_token('alice')}@")
    work = tmp_path / "c"
    assert (await _git("clone", url + "/o/r.git", str(work))).returncode == 0
    for args in (["commit", "--allow-empty", "-m", "init"], ["push", "origin", "HEAD:main"],
                 ["checkout", "-b", "feat"], ["commit", "--allow-empty", "-m", "feat"],
                 ["push", "origin", "feat"]):
        result = await _git(*(IDENTITY if args[0] == "commit" else []), *args, cwd=work)
        assert result.returncode == 0, result.stderr
    assert [(d["event"], d["payload"]["ref"]) for d in fakehub.state.deliveries] == [
        ("push", "refs/heads/main"), ("push", "refs/heads/feat")]
    pull = await fakehub.open_pull(repo, "feat", "main", "Feature", "alice")
    sha = await fakehub.merge(repo, pull.number, "alice")
    raw = (await _git("--git-dir", str(repo.path), "cat-file", "-p", sha)).stdout
    assert raw.count("\nparent ") == 2
    assert fakehub.state.deliveries[-2]["payload"]["pull_request"]["merged"] is True
