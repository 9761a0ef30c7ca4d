"""Recording a run in the PRD tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.record import SessionStore
from bot.generate.suggestion import FileChange, ModificationType, Suggestion
from bot.perf.decision import Evidence, Measurement, decide
from bot.perf.stats import Comparison
from bot.store.db import create_sessionmaker
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
