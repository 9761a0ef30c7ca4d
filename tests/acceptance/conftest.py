"""Fixtures for the PRD stories: fixture repositories as real git repositories."""

from __future__ import annotations

import os
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

from bot.perf.sandboxed import MeasureSettings, PerfSandbox
from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker
from bot.sandbox.runner import SandboxRunner

IMAGE = os.environ.get("SELFMOD_SANDBOX_IMAGE") or "selfmod-sandbox:latest"
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


@pytest.fixture
def perf_sandbox() -> PerfSandbox:
    """A sandbox for measurements, with short runs so 20 comparisons stay affordable."""
    runner = SandboxRunner(open_docker(DEFAULT_DOCKER_HOST), engine_url=DEFAULT_DOCKER_HOST)
    return PerfSandbox(runner, IMAGE, measure=MeasureSettings(run_seconds=0.05,
                                                             budget_seconds=6.0))
