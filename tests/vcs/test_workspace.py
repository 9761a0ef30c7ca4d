"""Tests of workspaces: fetched, reset and cleaned for reuse; the token stays out of everything."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import GitError
from bot.fakehub.server import FakeHub
from bot.vcs.safegit import SafeGit
from bot.vcs.workspace import Workspaces

HostGit = Callable[..., str]


@pytest.fixture
def workspaces(git: SafeGit, tmp_path: Path) -> Workspaces:
    """Return workspaces under the test's data folder."""
    return Workspaces(tmp_path / "data" / "workspaces", git)


def test_a_first_sync_checks_out_the_branch(make_repo: Callable[..., Path],
                                            workspaces: Workspaces, host_git: HostGit) -> None:
    """The first sync makes the workspace and checks out the branch's commit, shallow."""
    origin = make_repo("origin", {"app.py": "x = 1\n"})
    checkout = workspaces.sync("Octo/App", origin.as_uri(), "main")
    assert checkout.repo.work_tree == workspaces.path_for("octo/app")
    assert checkout.commit == host_git(origin, "rev-parse", "HEAD")
    assert (checkout.repo.work_tree / "app.py").read_text() == "x = 1\n"  # type: ignore[operator]
    assert (checkout.repo.git_dir / "shallow").exists()


def test_a_reused_workspace_is_reset_and_cleaned(
        make_repo: Callable[..., Path], workspaces: Workspaces,
        commit_file: Callable[..., str]) -> None:
    """A second sync drops local edits and stray files and lands on the new commit."""
    origin = make_repo("origin", {"app.py": "x = 1\n"})
    work = workspaces.sync("octo/app", origin.as_uri(), "main").repo.work_tree
    assert work is not None
    (work / "app.py").write_text("edited\n")
    (work / "build").mkdir()
    (work / "build" / "junk.o").write_text("junk")
    newer = commit_file(origin, "app.py", "x = 2\n")
    again = workspaces.sync("octo/app", origin.as_uri(), "main")
    assert again.commit == newer and again.repo.work_tree == work
    assert (work / "app.py").read_text() == "x = 2\n"
    assert not (work / "build").exists()


def test_a_commit_id_can_be_fetched_with_full_history(
        make_repo: Callable[..., Path], workspaces: Workspaces,
        commit_file: Callable[..., str], host_git: HostGit) -> None:
    """Fetching by commit id with no depth gives the whole history (for reverts)."""
    origin = make_repo("origin")
    first = host_git(origin, "rev-parse", "HEAD")
    commit_file(origin, "b.py", "b = 1\n")
    workspaces.sync("octo/app", origin.as_uri(), "main")
    checkout = workspaces.fetch("octo/app", origin.as_uri(), first)
    assert checkout.commit == first
    assert not (checkout.repo.git_dir / "shallow").exists()


def test_removing_a_workspace_deletes_its_folder(make_repo: Callable[..., Path],
                                                 workspaces: Workspaces) -> None:
    """A removed workspace is gone from disk."""
    origin = make_repo("origin")
    workspaces.sync("octo/app", origin.as_uri(), "main")
    workspaces.remove("octo/app")
    assert not workspaces.path_for("octo/app").exists()


@pytest.mark.parametrize("url", ["ssh://git@example.com/o/r.git", "ext::sh -c touch% /tmp/x",
                                 "https://user:pw@example.com/o/r.git", "/local/path"])
def test_a_url_that_is_not_plain_https_is_refused(workspaces: Workspaces, url: str) -> None:
    """Other protocols, local paths and URLs with credentials are refused before git runs."""
    with pytest.raises(GitError, match=r"refusing to fetch|carries credentials"):
        workspaces.sync("octo/app", url, "main")


def test_file_urls_are_refused_outside_tests(tmp_path: Path) -> None:
    """Without the test switch, file:// is refused too."""
    with SafeGit.create() as git, pytest.raises(GitError, match="refusing to fetch"):
        Workspaces(tmp_path, git).sync("octo/app", (tmp_path / "x").as_uri(), "main")


@pytest.mark.parametrize("name", ["octo", "../etc/x", "a/b/c", "o/..", "o/na me"])
def test_a_bad_repository_name_is_refused(workspaces: Workspaces, name: str) -> None:
    """A full name that could leave the workspaces folder is refused."""
    with pytest.raises(GitError, match="bad repository name"):
        workspaces.path_for(name)


def test_a_ref_that_looks_like_an_option_is_refused(make_repo: Callable[..., Path],
                                                    workspaces: Workspaces) -> None:
    """A ref starting with a dash never reaches git's command line."""
    with pytest.raises(GitError, match="bad ref"):
        workspaces.sync("octo/app", make_repo("origin").as_uri(), "--upload-pack=x")


def test_an_unknown_branch_is_a_clear_error(make_repo: Callable[..., Path],
                                            workspaces: Workspaces) -> None:
    """Fetching a branch the remote lacks fails with git's reason."""
    with pytest.raises(GitError, match="git fetch failed"):
        workspaces.sync("octo/app", make_repo("origin").as_uri(), "no-such-branch")


async def test_the_installation_token_stays_out_of_config_logs_and_errors(
        fakehub: FakeHub, make_repo: Callable[..., Path], host_git: HostGit,
        workspaces: Workspaces, caplog: pytest.LogCaptureFixture) -> None:
    """Cloning over smart HTTP with the token works; the token is in no file, log or error."""
    caplog.set_level(logging.DEBUG)
    hub_repo = await fakehub.add_repo("octo-org", "app", installation_id=77)
    fakehub.add_installation(77, "octo-org", [hub_repo])
    source = make_repo("source", {"app.py": "x = 1\n"})
    host_git(source, "push", "-q", str(hub_repo.path), "main")
    token, _ = fakehub.issue_token(77)
    url = f"{fakehub.base_url}/octo-org/app.git"
    checkout = await workspaces.async_sync("octo-org/app", url, "main", token=token)
    assert (checkout.repo.work_tree / "app.py").read_text() == "x = 1\n"  # type: ignore[operator]
    with pytest.raises(GitError) as refused:
        await workspaces.async_sync("octo-org/app", url, "main", token=token + "-wrong")
    with pytest.raises(GitError) as missing:
        await workspaces.async_sync("octo-org/gone", f"{fakehub.base_url}/octo-org/gone.git",
                                    "main", token=token)
    written = b"".join(p.read_bytes() for p in checkout.repo.git_dir.rglob("*") if p.is_file())
    for text in (caplog.text, str(refused.value), str(missing.value)):
        assert token not in text
    assert token.encode() not in written
    assert "asked for credentials" in str(refused.value)


async def test_a_fetch_without_the_token_is_refused_by_the_double(
        fakehub: FakeHub, workspaces: Workspaces) -> None:
    """Without the header the GitHub double asks for credentials, and git does not prompt."""
    hub_repo = await fakehub.add_repo("octo-org", "private", installation_id=77)
    fakehub.add_installation(77, "octo-org", [hub_repo])
    with pytest.raises(GitError, match="asked for credentials"):
        await workspaces.async_sync("octo-org/private",
                                    f"{fakehub.base_url}/octo-org/private.git", "main")
