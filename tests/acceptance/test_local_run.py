"""`selfmod run` on fixture repositories, end to end: sandbox, database, branches, JSON."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = os.environ.get("SELFMOD_SANDBOX_IMAGE") or "selfmod-sandbox:latest"


def _run(repo: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "SELFMOD_", "DATABASE_URL", "OPENAI_"))}
    env.update(SELFMOD_SANDBOX_IMAGE=IMAGE, SELFMOD_DATA_DIR=str(tmp_path / "data"),
               DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}")
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", str(repo), *args], env=env,
                          capture_output=True, text=True, timeout=600)


def _branches(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "branch", "--format=%(refname:short)"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_quadratic_hot_spot_becomes_a_proven_branch(
        fixture_repo: Callable[[str], Path], tmp_path: Path) -> None:
    """A planted quadratic queue is rewritten, passes the tests, and is at least 20% faster."""
    repo = fixture_repo("quadratic")
    done = _run(repo, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    approved = [s for s in report["suggestions"] if s["status"] == "approved"]
    assert len(approved) == 1, report
    item = approved[0]
    assert item["rule_id"] == "deque-queue"
    assert item["tests"]["failed"] == [] and item["tests"]["passed"] == 3
    assert item["benchmark"]["ci_low"] >= 0.20
    assert item["performance_impact"] >= 20
    assert item["branch"] == f"self-mod/{item['id']}"
    assert item["branch"] in _branches(repo)
    log = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%an%n%B",
                          item["branch"]], capture_output=True, text=True, check=True).stdout
    assert log.startswith("agent-self-modify\n")
    show = subprocess.run(["git", "-C", str(repo), "show", f"{item['branch']}:graphs/walk.py"],
                          capture_output=True, text=True, check=True).stdout
    assert "popleft()" in show
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                          text=True, check=True).stdout == ""
    assert report["profile"][0]["function"] == "graphs.walk.breadth_first"
    db = sqlite3.connect(tmp_path / "run.db")
    status, impact = db.execute("SELECT status, performance_impact FROM code_modifications "
                                "WHERE id = ?", (item["id"].replace("-", ""),)).fetchone()
    assert status == "approved" and float(impact) >= 20
    metrics = {row[0] for row in db.execute("SELECT metric_name FROM modification_metrics")}
    assert {"execution_time_seconds", "peak_memory_mb", "error_rate"} <= metrics
    assert db.execute("SELECT status FROM modification_sessions").fetchone()[0] == "completed"
    assert db.execute("SELECT count(*) FROM sandbox_executions").fetchone()[0] >= 4


def test_text_report_names_the_decision(fixture_repo: Callable[[str], Path],
                                        tmp_path: Path) -> None:
    """Without --json the report is a table with the decision and the branch."""
    repo = fixture_repo("quadratic")
    done = _run(repo, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "approved" in done.stdout and "branch self-mod/" in done.stdout
    assert "time saved (95% CI)" in done.stdout


def test_repository_without_tests_gets_no_proposal(fixture_repo: Callable[[str], Path],
                                                   tmp_path: Path) -> None:
    """A repository with no tests gets no branch, and the report says why."""
    repo = fixture_repo("untested")
    done = _run(repo, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "no_tests"
    assert "no tests" in report["reason"]
    assert report["suggestions"] == []
    assert _branches(repo) == ["main"]


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    """A folder that is not a git repository gets one clear error line."""
    (tmp_path / "plain").mkdir()
    done = _run(tmp_path / "plain", tmp_path, "--json")
    assert done.returncode == 1
    assert "not a git repository" in done.stderr
