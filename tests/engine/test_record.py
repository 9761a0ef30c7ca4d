"""Recording a run in the PRD tables, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine import command
from bot.engine.pipeline import RunOptions
from bot.engine.record import STALE_AFTER, SessionStore, last_sign_of_life, running_marker
from bot.errors import DockerUnavailableError
from bot.generate.suggestion import FileChange, ModificationType, Suggestion
from bot.perf.decision import Evidence, Measurement, decide
from bot.perf.stats import Comparison
from bot.settings import load_settings
from bot.store.db import create_engine, create_sessionmaker
from bot.store.models import (
    CodeModification,
    ModificationMetric,
    ModificationSession,
    ModificationStatus,
)


def _suggestion() -> Suggestion:
    return Suggestion(ModificationType.PERFORMANCE, (FileChange("a.py", "x\n", "y\n"),),
                      "x", "y", "because", "deque-queue", ("a.f",), title="Use a deque")


async def test_session_suggestion_decision_and_metrics(migrated_engine: AsyncEngine) -> None:
    """A run's session, modification, decision, branch and metrics land in their tables."""
    store = SessionStore(create_sessionmaker(migrated_engine))
    session_id = await store.start("/repo", ["improve_performance"], "conservative", "abc")
    suggestion = _suggestion()
    await store.add_suggestion(session_id, suggestion)
    measurement = Measurement(Comparison(6, 0.5, 0.45, 0.55, 0.002, 0.2, 0.1), "micro",
                              memory_baseline=2e7, memory_candidate=2e7)
    decision = decide(Evidence(ModificationType.PERFORMANCE, 1.0, failing_tests=(),
                               tests_passed=2, measurement=measurement))
    await store.decide(suggestion.id, decision, {"k": 1}, measurement)
    await store.set_branch(suggestion.id, f"self-mod/{suggestion.id}", "c0ffee", "abc")
    await store.finish(session_id, ModificationStatus.COMPLETED, {"version": 1}, 1.0)
    async with create_sessionmaker(migrated_engine)() as db:
        row = (await db.execute(select(CodeModification))).scalar_one()
        assert row.status == "approved" and float(row.performance_impact) == 50.0
        assert row.branch == f"self-mod/{suggestion.id}" and row.session_id == session_id
        metrics = (await db.execute(select(ModificationMetric))).scalars().all()
        assert {m.metric_name for m in metrics} == {"execution_time_seconds", "peak_memory_mb",
                                                    "error_rate"}
        session = (await db.execute(select(ModificationSession))).scalar_one()
        assert session.status == ModificationStatus.COMPLETED
        assert float(session.success_rate) == 100.0


async def test_rejection_keeps_its_reasons(migrated_engine: AsyncEngine) -> None:
    """A rejected suggestion stores its status and reasons, and no metrics without a benchmark."""
    store = SessionStore(create_sessionmaker(migrated_engine))
    session_id = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    suggestion = _suggestion()
    await store.add_suggestion(session_id, suggestion)
    decision = decide(Evidence(ModificationType.PERFORMANCE, 1.0,
                               failing_tests=("t.py::test_x",)))
    await store.decide(suggestion.id, decision, {}, None)
    async with create_sessionmaker(migrated_engine)() as db:
        row = (await db.execute(select(CodeModification))).scalar_one()
        assert row.status == "rejected"
        assert row.rejection_reasons[0]["reason"] == "test_failure"
        assert (await db.execute(select(ModificationMetric))).first() is None


async def _session(engine: AsyncEngine, session_id: Any) -> ModificationSession:
    async with create_sessionmaker(engine)() as db:
        row = await db.get(ModificationSession, session_id)
        assert row is not None
        return row


async def _set_report(engine: AsyncEngine, session_id: Any, report: Any, **values: Any) -> None:
    async with create_sessionmaker(engine)() as db:
        await db.execute(update(ModificationSession).where(
            ModificationSession.id == session_id).values(report=report, **values))
        await db.commit()


async def _silent_session(engine: AsyncEngine) -> tuple[SessionStore, Any, datetime]:
    """Start a session whose last heartbeat is twice STALE_AFTER old; return it and when."""
    store = SessionStore(create_sessionmaker(engine))
    session_id = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    old = datetime.now(UTC).replace(tzinfo=None) - STALE_AFTER * 2
    await _set_report(engine, session_id, running_marker(old))
    return store, session_id, old


async def test_a_session_whose_process_died_is_closed_as_failed(
        migrated_engine: AsyncEngine) -> None:
    """Silent past STALE_AFTER: failed, naming its process; fresh and finished ones stay."""
    store = SessionStore(create_sessionmaker(migrated_engine))
    dead = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    alive = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    done = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    await store.finish(done, ModificationStatus.COMPLETED, {"version": 1}, None)
    now = datetime.now(UTC).replace(tzinfo=None)
    old = now - STALE_AFTER - timedelta(seconds=5)
    await _set_report(migrated_engine, dead, {"running": {
        "host": "worker-7", "pid": 4242, "heartbeat": old.isoformat(timespec="seconds")}})
    await _set_report(migrated_engine, done, {"version": 1})

    assert await store.reap_abandoned(now=now) == [dead]

    row = await _session(migrated_engine, dead)
    assert row.status == ModificationStatus.FAILED and row.completed_at is not None
    assert row.error is not None and row.error.startswith(
        "abandoned: the process running it (worker-7, pid 4242) stopped")
    assert (await _session(migrated_engine, alive)).status == ModificationStatus.ANALYZING
    assert (await _session(migrated_engine, done)).status == ModificationStatus.COMPLETED
    assert await store.reap_abandoned(now=now) == []  # closing twice closes nothing


async def test_a_session_without_a_heartbeat_is_given_a_day(migrated_engine: AsyncEngine) -> None:
    """A row from before heartbeats is judged by its start, with a day's margin."""
    store = SessionStore(create_sessionmaker(migrated_engine))
    recent = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    ancient = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    now = datetime.now(UTC).replace(tzinfo=None)
    await _set_report(migrated_engine, recent, None, started_at=now - timedelta(hours=20))
    await _set_report(migrated_engine, ancient, None, started_at=now - timedelta(days=2))

    assert await store.reap_abandoned(now=now) == [ancient]
    assert (await _session(migrated_engine, recent)).status == ModificationStatus.ANALYZING


async def test_starting_a_session_closes_abandoned_ones(migrated_engine: AsyncEngine) -> None:
    """The next run on any machine cleans up after a killed one."""
    store, dead, _ = await _silent_session(migrated_engine)
    await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    assert (await _session(migrated_engine, dead)).status == ModificationStatus.FAILED


async def test_a_running_session_keeps_its_heartbeat(migrated_engine: AsyncEngine) -> None:
    """While the block runs the heartbeat is renewed, so the reaper leaves the session alone."""
    store, session_id, old = await _silent_session(migrated_engine)
    async with store.running(session_id, every=0.02):
        await asyncio.sleep(0.3)
        assert await store.reap_abandoned() == []
    row = await _session(migrated_engine, session_id)
    seen, runner = last_sign_of_life(row.report, row.started_at)
    assert seen is not None and seen > old and runner is not None
    assert row.status == ModificationStatus.ANALYZING  # a block that ends well closes nothing


async def test_a_block_that_raises_fails_its_session(migrated_engine: AsyncEngine) -> None:
    """An error before the run could finish the session (a Docker engine that is down, say)."""
    store = SessionStore(create_sessionmaker(migrated_engine))
    session_id = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    with pytest.raises(RuntimeError):
        async with store.running(session_id):
            raise RuntimeError("the Docker engine did not answer")
    row = await _session(migrated_engine, session_id)
    assert row.status == ModificationStatus.FAILED
    assert row.error == "RuntimeError: the Docker engine did not answer"


async def test_a_cancelled_block_cancels_its_session(migrated_engine: AsyncEngine) -> None:
    """An interrupted run is recorded as cancelled, not left in progress."""
    store = SessionStore(create_sessionmaker(migrated_engine))
    session_id = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    started = asyncio.Event()

    async def run() -> None:
        async with store.running(session_id):
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await _session(migrated_engine, session_id)).status == ModificationStatus.CANCELLED


async def test_a_block_that_finished_its_session_keeps_that_ending(
        migrated_engine: AsyncEngine) -> None:
    """A failure the block recorded itself (with its report) is not overwritten."""
    store = SessionStore(create_sessionmaker(migrated_engine))
    session_id = await store.start("/repo", ["fix_bugs"], "moderate", "abc")
    with pytest.raises(ValueError):
        async with store.running(session_id):
            await store.finish(session_id, ModificationStatus.FAILED, {"version": 1}, None,
                               error="own words")
            raise ValueError("later")
    row = await _session(migrated_engine, session_id)
    assert row.error == "own words" and row.report == {"version": 1}


async def test_a_run_whose_docker_engine_is_down_fails_its_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`selfmod run` with no engine: a clear error, and the session says failed and why."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "one"]):
        if args[0] == "add":
            (repo / "calc.py").write_text("def f():\n    return 1\n")
        subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com",
                        "-C", str(repo), *args], check=True, capture_output=True)
    url = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    settings = load_settings({"DATABASE_URL": url, "SELFMOD_DATA_DIR": str(tmp_path / "data"),
                              "SELFMOD_DOCKER_HOSTS": f"unix://{tmp_path / 'no.sock'}"})
    monkeypatch.setattr(command, "DEFAULT_WAIT_SECONDS", 0.0)  # the real wait is two minutes
    with pytest.raises(DockerUnavailableError, match="no Docker engine answers"):
        await command.run_local(repo, RunOptions(), settings)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as db:
            row = (await db.execute(select(ModificationSession))).scalar_one()
    finally:
        await engine.dispose()
    assert row.status == ModificationStatus.FAILED
    assert row.error is not None and "no Docker engine answers" in row.error
