"""`selfmod run` on fixture repositories, end to end: sandbox, database, branches, JSON."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.engine.record import SessionStore
from bot.engine.rollback import rollback_modification
from bot.settings import Settings
from bot.store.db import create_engine, create_sessionmaker
from bot.vcs.safegit import SafeGit

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = os.environ.get("SELFMOD_SANDBOX_IMAGE") or "selfmod-sandbox:latest"
FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "SELFMOD_", "DATABASE_URL", "OPENAI_"))}
    env.update(SELFMOD_SANDBOX_IMAGE=IMAGE, SELFMOD_DATA_DIR=str(tmp_path / "data"),
               DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}")
    return env


def _selfmod(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=600)


def _run(repo: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _selfmod(tmp_path, "run", str(repo), *args)


def _report(repo: Path, tmp_path: Path, *, exit_code: int = 0) -> dict:
    """Run `selfmod run --json` on repo, check its exit code, return the report."""
    done = _run(repo, tmp_path, "--json")
    assert done.returncode == exit_code, done.stderr
    report: dict = json.loads(done.stdout)
    return report


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-C", str(repo), *args],
                          capture_output=True, text=True, check=check)


@dataclass(frozen=True)
class QuadraticRun:
    """One `selfmod run --json` on the quadratic fixture, shared by the tests that read it."""

    repo: Path
    work: Path
    head: str
    report: dict


@pytest.fixture(scope="module")
def quadratic_run(tmp_path_factory: pytest.TempPathFactory) -> QuadraticRun:
    """Run `selfmod run --json` once on a fresh git copy of the quadratic fixture."""
    work = tmp_path_factory.mktemp("quadratic-run")
    repo = work / "quadratic"
    shutil.copytree(FIXTURES / "quadratic", repo)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-qm",
                  "initial"]):
        _git(repo, *args)
    head = _git(repo, "rev-parse", "HEAD").stdout.strip()
    done = _run(repo, work, "--json")
    assert done.returncode == 0, done.stderr
    return QuadraticRun(repo, work, head, json.loads(done.stdout))


def _branches(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "branch", "--format=%(refname:short)"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_quadratic_hot_spot_becomes_a_proven_branch(quadratic_run: QuadraticRun) -> None:
    """A planted quadratic queue is rewritten, passes the tests, and is at least 20% faster."""
    repo, tmp_path, report = quadratic_run.repo, quadratic_run.work, quadratic_run.report
    approved = [s for s in report["suggestions"] if s["status"] == "approved"]
    assert len(approved) == 1, report
    item = approved[0]
    assert item["rule_id"] == "deque-queue"
    assert item["tests"]["failed"] == [] and item["tests"]["passed"] == 3
    assert item["benchmark"]["ci_low"] >= 0.20
    assert item["performance_impact"] >= 20
    assert item["branch"] == f"self-mod/{item['id']}"
    assert item["branch"] in _branches(repo)
    log = _git(repo, "log", "-1", "--format=%an%n%B", item["branch"]).stdout
    assert log.startswith("agent-self-modify\n")
    assert f"Self-modification: {item['id']}:" in log
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
    report = _report(repo, tmp_path)
    assert report["status"] == "no_tests"
    assert "no tests" in report["reason"]
    assert report["suggestions"] == []
    assert _branches(repo) == ["main"]


def test_src_layout_tests_import_the_code_under_src(fixture_repo: Callable[[str], Path],
                                                    tmp_path: Path) -> None:
    """The repository is never installed; its src/ packages are importable all the same."""
    report = _report(fixture_repo("src_layout"), tmp_path)
    assert report["status"] == "completed"
    assert report["baseline_tests"]["passed"] == 2 and report["baseline_tests"]["failed"] == []


def test_tests_that_cannot_run_stop_the_run_with_why(fixture_repo: Callable[[str], Path],
                                                     tmp_path: Path) -> None:
    """No test passes before any change (an import fails): nothing is tried, the log says why."""
    repo = fixture_repo("broken_baseline")
    report = _report(repo, tmp_path, exit_code=1)
    assert report["status"] == "baseline_failed"
    assert "numpy_not_installed_here" in report["reason"]
    assert report["suggestions"] == [] and _branches(repo) == ["main"]
    with sqlite3.connect(tmp_path / "run.db") as db:
        status, error = db.execute("SELECT status, error FROM modification_sessions").fetchone()
    assert status == "failed" and "numpy_not_installed_here" in error


def test_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    """A folder that is not a git repository gets one clear error line."""
    (tmp_path / "plain").mkdir()
    done = _run(tmp_path / "plain", tmp_path, "--json")
    assert done.returncode == 1
    assert "not a git repository" in done.stderr


def _approved(run: QuadraticRun) -> dict:
    approved = [s for s in run.report["suggestions"] if s["status"] == "approved"]
    assert len(approved) == 1, run.report
    return approved[0]


def test_branch_commit_is_signed_and_verifies(quadratic_run: QuadraticRun) -> None:
    """The branch's commit passes `git verify-commit` with the app's key and `selfmod verify`."""
    item, repo, work = _approved(quadratic_run), quadratic_run.repo, quadratic_run.work
    printed = _selfmod(work, "verify", "--public-key")
    assert printed.returncode == 0, printed.stderr
    signers = work / "allowed_signers"
    signers.write_text(printed.stdout.splitlines()[1] + "\n")
    checked = _git(repo, "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit",
                   item["branch"], check=False)
    assert checked.returncode == 0, checked.stderr
    assert 'Good "git" signature' in checked.stderr
    verified = _selfmod(work, "verify", item["commit"], "--repo", str(repo))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ": OK:" in verified.stdout and item["id"] in verified.stdout
    message = _git(repo, "log", "-1", "--format=%B", item["branch"]).stdout
    assert f"Selfmod-Session: {quadratic_run.report['session_id']}" in message
    assert "Selfmod-Signature: " in message


def test_unsigned_tampering_fails_verification(quadratic_run: QuadraticRun) -> None:
    """A copy of the commit with another tree does not verify with the app's key."""
    item, repo, work = _approved(quadratic_run), quadratic_run.repo, quadratic_run.work
    message = _git(repo, "log", "-1", "--format=%B", item["branch"]).stdout
    forged = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=agent-self-modify",
         "-c", "user.email=x@example.com", "commit-tree", f"{quadratic_run.head}^{{tree}}",
         "-p", quadratic_run.head], input=message, capture_output=True, text=True,
        check=True).stdout.strip()
    verified = _selfmod(work, "verify", forged, "--repo", str(repo))
    assert verified.returncode == 1
    assert "FAILED" in verified.stdout


async def test_applied_modification_rolls_back_locally(quadratic_run: QuadraticRun) -> None:
    """PRD test_version_control_integration and test_modification_rollback, in local mode."""
    item, repo, work = _approved(quadratic_run), quadratic_run.repo, quadratic_run.work
    original = quadratic_run.head
    assert _git(repo, "rev-parse", "--verify", f"refs/heads/self-mod/{item['id']}").returncode == 0
    # Applying locally: the user fast-forwards main to the reviewed branch.
    _git(repo, "merge", "-q", "--ff-only", item["branch"])
    assert _git(repo, "rev-parse", "HEAD").stdout.strip() == item["commit"]
    settings = Settings(database_url=f"sqlite+aiosqlite:///{work / 'run.db'}",
                        data_dir=work / "data")
    engine = create_engine(settings.database_url)
    try:
        store = SessionStore(create_sessionmaker(engine))
        with SafeGit.create() as git:
            done = await rollback_modification(git, repo, store, settings,
                                               uuid.UUID(item["id"]),
                                               "Performance regression detected")
        row = await store.modification(uuid.UUID(item["id"]))
    finally:
        await engine.dispose()
    assert done.kind == "reset" and done.commit == original
    assert _git(repo, "rev-parse", "HEAD").stdout.strip() == original
    assert "popleft()" not in (repo / "graphs" / "walk.py").read_text()
    assert _git(repo, "status", "--porcelain").stdout == ""
    assert row is not None and row.rollback_reason == "Performance regression detected"
    assert row.status == "rolled_back" and row.rollback_at is not None


def test_untested_repository_may_allow_unverified_refactors(
        fixture_repo: Callable[[str], Path], tmp_path: Path) -> None:
    """With allow_unverified_refactors, an untested repository gets refactors only, unrun."""
    repo = fixture_repo("untested")
    (repo / ".github").mkdir()
    (repo / ".github" / "selfmod.yml").write_text(
        "goals: [refactor, improve_performance]\nallow_unverified_refactors: true\n")
    (repo / "calc" / "sign.py").write_text(
        '"""Signs."""\n\n\ndef sign(x):\n    """Return the sign of x."""\n    if x < 0:\n'
        "        return -1\n    else:\n        return 1\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-qm", "cfg")
    done = _run(repo, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "completed" and "no tests" in report["reason"]
    assert report["baseline_tests"] is None
    assert {s["modification_type"] for s in report["suggestions"]} == {"refactor"}
    item = next(s for s in report["suggestions"] if s["rule_id"] == "redundant-else")
    assert item["status"] == "approved" and item["tests"] is None
    assert any(note.startswith("unverified") for note in item["notes"])
    assert item["branch"] in _branches(repo)
    db = sqlite3.connect(tmp_path / "run.db")
    assert db.execute("SELECT count(*) FROM sandbox_executions").fetchone()[0] == 0


def test_untested_repository_config_flag_must_be_boolean(
        fixture_repo: Callable[[str], Path], tmp_path: Path) -> None:
    """A non-boolean allow_unverified_refactors is a configuration error naming the key."""
    repo = fixture_repo("untested")
    (repo / ".selfmod.yml").write_text("allow_unverified_refactors: yes please\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-qm", "cfg")
    done = _run(repo, tmp_path, "--json")
    assert done.returncode == 1 and done.stdout == ""
    assert "allow_unverified_refactors: must be true or false" in done.stderr


@pytest.mark.parametrize(("fixture", "method", "path"), [
    ("src_bench_command", "command", "src/queues/drain.py"),
    ("bench_tests", "pytest-benchmark", "jobs/drain.py")])
def test_configured_and_discovered_benchmarks_measure_the_change(
        fixture_repo: Callable[[str], Path], tmp_path: Path, fixture: str, method: str,
        path: str) -> None:
    """The configured benchmark command (src/ layout) and pytest-benchmark tests measure it."""
    repo = fixture_repo(fixture)
    done = _run(repo, tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    item = next(s for s in report["suggestions"] if s["rule_id"] == "deque-queue")
    assert item["benchmark_method"] == method, item
    assert item["status"] == "approved", item
    assert item["benchmark"]["ci_low"] >= 0.20
    # The recorded inputs reached the changed function through its import root.
    assert item["behaviour"][0]["compared"] >= 1, item["behaviour"]
    assert item["behaviour"][0]["mismatch"] is None
    shown = _git(repo, "show", f"{item['branch']}:{path}").stdout
    assert "popleft()" in shown
