"""Fixtures for the PRD stories: fixture repositories as real git repositories."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes.github import (  # noqa: F401  (the GitHub double, for the pull-request loop)
    app_private_key,
    fakehub,
    github_request_log,
    github_settings,
    running_app,
)

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"


def make_git_repo(name: str, dest: Path) -> Path:
    """Copy a fixture repository to dest and commit it on main."""
    repo = dest / name
    shutil.copytree(FIXTURES / name, repo)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-qm",
                  "initial"]):
        subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-C", str(repo), *args],
                       check=True, capture_output=True)
    return repo


@pytest.fixture
def fixture_repo(tmp_path: Path) -> Callable[[str], Path]:
    """Return a maker of git repositories from tests/engine/fixtures."""
    return lambda name: make_git_repo(name, tmp_path)
