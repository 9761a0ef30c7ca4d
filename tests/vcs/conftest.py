"""Fixtures of the version-control tests: real git repositories, a safe runner, a signing key."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.vcs.commit import Author
from bot.vcs.keys import SigningKey, load_or_create_key
from bot.vcs.safegit import SafeGit

HostGit = Callable[..., str]


def host_git_env(home: Path) -> dict[str, str]:
    """Return an environment for the test's own git set-up commands (not the code under test)."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "Dev",
            "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev",
            "GIT_COMMITTER_EMAIL": "dev@example.com", "LC_ALL": "C"}


@pytest.fixture
def host_git(tmp_path: Path) -> HostGit:
    """Return a function that runs plain git (as a developer would) and returns its output."""
    home = tmp_path / "dev-home"
    home.mkdir()

    def run(cwd: Path, *args: str, check: bool = True) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, env=host_git_env(home), check=check,
                              capture_output=True, text=True, timeout=60)
        return done.stdout.strip()

    return run


@pytest.fixture
def git() -> Iterator[SafeGit]:
    """Return the safe runner, with file:// allowed for local test remotes."""
    with SafeGit.create(timeout=60, allow_file_protocol=True) as runner:
        yield runner


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    """Return a fresh signing key."""
    return load_or_create_key(tmp_path / "keys" / "signing_key")


@pytest.fixture
def author() -> Author:
    """Return the app's commit identity."""
    return Author("agent-self-modify", "agent-self-modify@users.noreply.github.com")


@pytest.fixture
def make_repo(tmp_path: Path, host_git: HostGit) -> Callable[..., Path]:
    """Return a function making a repository with one commit of the given files."""

    def make(name: str = "repo", files: dict[str, str] | None = None) -> Path:
        path = tmp_path / name
        path.mkdir()
        host_git(path, "init", "-q", "--initial-branch=main")
        for rel, text in (files or {"app.py": "def f():\n    return 1\n"}).items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_text(text)
        host_git(path, "add", "-A")
        host_git(path, "commit", "-qm", "initial")
        return path

    return make


@pytest.fixture
def commit_file(host_git: HostGit) -> Callable[..., str]:
    """Return a function that writes a file, commits it as a developer, returns the commit id."""

    def commit(repo: Path, rel: str, text: str, message: str = "change") -> str:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
        host_git(repo, "add", rel)
        host_git(repo, "commit", "-qm", message)
        return host_git(repo, "rev-parse", "HEAD")

    return commit


from fakes.github import app_private_key, fakehub, github_request_log  # noqa: E402, F401
