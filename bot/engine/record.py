"""Recording a pipeline run in the PRD tables: the session, its modifications and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.errors import StorageError
from bot.generate.suggestion import Suggestion
from bot.metrics import process_metrics
from bot.perf.decision import Decision, Measurement
from bot.store.models import (
    SESSION_STATUSES_IN_PROGRESS,
    Agent,
    CodeModification,
    ModificationMetric,
    ModificationSafety,
    ModificationSession,
    ModificationStatus,
    SuggestionStatus,
)

log = logging.getLogger(__name__)

CLI_AGENT = "selfmod-cli"
# A session in progress says it is alive this often (in its report, until the real report);
# one silent for STALE_AFTER lost the process that ran it and is closed as failed.
HEARTBEAT_SECONDS = 30.0
STALE_AFTER = timedelta(minutes=5)
# Rows written before heartbeats existed have only their start (whose clock may be the
# database's local time): they are given a day.
UNMARKED_STALE_AFTER = timedelta(days=1)
_PERCENT_LIMIT = Decimal("999.99")
_VALUE_LIMIT = Decimal("999999.9999")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # the PRD columns are naive TIMESTAMPs


def running_marker(now: datetime | None = None) -> dict[str, Any]:
    """Return the report of a session in progress: who runs it and when it last said so."""
    moment = now or _now()
    return {"running": {"host": socket.gethostname(), "pid": os.getpid(),
                        "heartbeat": moment.isoformat(timespec="seconds")}}


def last_sign_of_life(report: Any, started_at: datetime | None,
                      ) -> tuple[datetime | None, str | None]:
    """Return when a session in progress last said it was alive, and who ran it."""
    running = report.get("running") if isinstance(report, dict) else None
    if isinstance(running, dict):
        with contextlib.suppress(TypeError, ValueError):
            return (datetime.fromisoformat(str(running["heartbeat"])),
                    f"{running.get('host')}, pid {running.get('pid')}")
    return started_at, None


def _clamp(value: float, limit: Decimal, places: str) -> Decimal:
    number = Decimal(str(value)).quantize(Decimal(places))
    return max(-limit, min(limit, number))


class SessionStore:
    """Write one session's rows; each call is its own short transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def start(self, codebase: str, goals: list[str], safety_level: str,
                    commit_sha: str) -> uuid.UUID:
        """Insert the session (status analyzing) for the command-line agent; return its id."""
        await self.reap_abandoned()
        async with self._sessionmaker() as db:
            agent = (await db.execute(select(Agent).where(Agent.name == CLI_AGENT))).scalar()
            if agent is None:
                agent = Agent(name=CLI_AGENT, kind="cli")
                db.add(agent)
                await db.flush()
            row = ModificationSession(agent_id=agent.id, codebase_path=codebase,
                                      modification_goals=goals,
                                      safety_level=ModificationSafety(safety_level),
                                      status=ModificationStatus.ANALYZING,
                                      commit_sha=commit_sha, trigger="cli",
                                      report=running_marker())
            db.add(row)
            await db.commit()
            return row.id

    @contextlib.asynccontextmanager
    async def running(self, session_id: uuid.UUID, *,
                      every: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
        """Keep the session's heartbeat while the block runs; close it if the block raises.

        A block that finishes the session itself, failure included, is left as it finished:
        only a session still in progress is closed here (cancelled on an interrupt).
        """
        beating = asyncio.create_task(self._beat(session_id, every))
        try:
            yield
        except BaseException as exc:
            interrupted = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
            status = ModificationStatus.CANCELLED if interrupted else ModificationStatus.FAILED
            error = "cancelled: the process was stopped" if interrupted else (
                f"{exc.__class__.__name__}: {exc}"[:2000])
            try:
                await self._close_in_progress(session_id, status, error)
            except SQLAlchemyError:
                log.exception("could not close session %s", session_id)
            raise
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)

    async def _beat(self, session_id: uuid.UUID, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                async with self._sessionmaker() as db:
                    await db.execute(update(ModificationSession).where(
                        ModificationSession.id == session_id,
                        ModificationSession.status.in_(SESSION_STATUSES_IN_PROGRESS)).values(
                        report=running_marker()))
                    await db.commit()
            except SQLAlchemyError as exc:  # the next beat tries again; the run goes on
                log.warning("heartbeat of session %s not written: %s", session_id, exc)

    async def _close_in_progress(self, session_id: uuid.UUID, status: ModificationStatus,
                                 error: str) -> bool:
        async with self._sessionmaker() as db:
            done = await db.execute(update(ModificationSession).where(
                ModificationSession.id == session_id,
                ModificationSession.status.in_(SESSION_STATUSES_IN_PROGRESS)).values(
                status=status, completed_at=_now(), error=error))
            await db.commit()
        return bool(getattr(done, "rowcount", 0))

    async def reap_abandoned(self, *, session_id: uuid.UUID | None = None,
                             now: datetime | None = None) -> list[uuid.UUID]:
        """Close as failed the sessions in progress whose process stopped saying it runs them.

        A process that is killed (or a machine that goes away) cannot close its sessions;
        whoever looks next does. Returns the sessions closed.
        """
        moment = now or _now()
        query = select(ModificationSession.id, ModificationSession.report,
                       ModificationSession.started_at).where(
            ModificationSession.status.in_(SESSION_STATUSES_IN_PROGRESS))
        if session_id is not None:
            query = query.where(ModificationSession.id == session_id)
        async with self._sessionmaker() as db:
            rows = (await db.execute(query)).all()
        closed = []
        for row_id, report, started_at in rows:
            seen, runner = last_sign_of_life(report, started_at)
            limit = STALE_AFTER if runner is not None else UNMARKED_STALE_AFTER
            if seen is None or moment - seen <= limit:
                continue
            who = f" ({runner})" if runner else ""
            error = (f"abandoned: the process running it{who} stopped; no sign of life since "
                     f"{seen.isoformat(timespec='seconds')}Z")
            if await self._close_in_progress(row_id, ModificationStatus.FAILED, error):
                log.warning("session %s %s", row_id, error)
                closed.append(row_id)
        return closed

    async def set_status(self, session_id: uuid.UUID, status: ModificationStatus) -> None:
        """Move the session to a stage."""
        async with self._sessionmaker() as db:
            await db.execute(update(ModificationSession)
                             .where(ModificationSession.id == session_id).values(status=status))
            await db.commit()

    async def add_suggestion(self, session_id: uuid.UUID, suggestion: Suggestion) -> None:
        """Insert a suggestion as a pending modification (its id is the suggestion's)."""
        first = suggestion.files[0]
        async with self._sessionmaker() as db:
            db.add(CodeModification(
                id=suggestion.id, session_id=session_id, file_path=first.path[:500],
                modification_type=suggestion.modification_type.value,
                original_content=first.original, modified_content=first.modified,
                modification_reason=suggestion.reasoning, rule_id=suggestion.rule_id,
                title=suggestion.title[:300], diff=suggestion.diff,
                files=[c.path for c in suggestion.files],
                status=SuggestionStatus.PENDING.value))
            await db.commit()

    async def decide(self, suggestion_id: uuid.UUID, decision: Decision,
                     evidence: dict[str, Any], measurement: Measurement | None) -> None:
        """Store the decision, its evidence and the metrics rows."""
        values: dict[str, Any] = {
            "status": (SuggestionStatus.APPROVED if decision.approved
                       else SuggestionStatus.REJECTED).value,
            "safety_score": _clamp(decision.safety_score, Decimal("9.99"), "0.01"),
            "rejection_reasons": decision.to_json()["rejections"],
            "evidence": evidence,
        }
        if decision.performance_impact is not None:
            values["performance_impact"] = _clamp(decision.performance_impact, _PERCENT_LIMIT,
                                                  "0.01")
        process_metrics().count_suggestion(values["status"])
        async with self._sessionmaker() as db:
            await db.execute(update(CodeModification)
                             .where(CodeModification.id == suggestion_id).values(**values))
            for metric in build_metric_rows(suggestion_id, measurement):
                db.add(metric)
            await db.commit()

    async def set_branch(self, suggestion_id: uuid.UUID, branch: str, commit_sha: str,
                         base_sha: str) -> None:
        """Record where an approved change was committed."""
        async with self._sessionmaker() as db:
            await db.execute(update(CodeModification)
                             .where(CodeModification.id == suggestion_id)
                             .values(branch=branch, commit_sha=commit_sha, base_sha=base_sha))
            await db.commit()

    async def modification(self, suggestion_id: uuid.UUID) -> CodeModification | None:
        """Return a recorded modification, or None."""
        async with self._sessionmaker() as db:
            return await db.get(CodeModification, suggestion_id)

    async def record_rollback(self, suggestion_id: uuid.UUID, reason: str, kind: str,
                              commit_sha: str) -> None:
        """Mark a modification rolled back, with when, why and how."""
        async with self._sessionmaker() as db:
            row = await db.get(CodeModification, suggestion_id)
            if row is None:
                raise StorageError(f"no modification {suggestion_id}")
            evidence = dict(row.evidence or {})
            evidence["rollback"] = {"kind": kind, "commit": commit_sha}
            row.status = SuggestionStatus.ROLLED_BACK.value
            row.rollback_at = _now()
            row.rollback_reason = reason
            row.evidence = evidence
            await db.commit()

    async def finish(self, session_id: uuid.UUID, status: ModificationStatus,
                     report: dict[str, Any], success_rate: float | None,
                     error: str | None = None) -> None:
        """Close the session with its report."""
        values: dict[str, Any] = {"status": status, "completed_at": _now(), "report": report,
                                  "error": error}
        if success_rate is not None:
            values["success_rate"] = _clamp(success_rate * 100, _PERCENT_LIMIT, "0.01")
        async with self._sessionmaker() as db:
            await db.execute(update(ModificationSession)
                             .where(ModificationSession.id == session_id).values(**values))
            await db.commit()


def build_metric_rows(suggestion_id: uuid.UUID,
                      measurement: Measurement | None) -> list[ModificationMetric]:
    """Return the modification_metrics rows of a measurement (none without one)."""
    if measurement is None:
        return []
    c = measurement.comparison
    rows = [ModificationMetric(
        modification_id=suggestion_id, metric_name="execution_time_seconds",
        baseline_value=_clamp(c.baseline_median, _VALUE_LIMIT, "0.0001"),
        modified_value=_clamp(c.candidate_median, _VALUE_LIMIT, "0.0001"),
        improvement_percentage=_clamp(c.improvement * 100, _PERCENT_LIMIT, "0.01"))]
    if measurement.memory_baseline and measurement.memory_candidate is not None:
        mib = 1024 * 1024
        rows.append(ModificationMetric(
            modification_id=suggestion_id, metric_name="peak_memory_mb",
            baseline_value=_clamp(measurement.memory_baseline / mib, _VALUE_LIMIT, "0.0001"),
            modified_value=_clamp(measurement.memory_candidate / mib, _VALUE_LIMIT, "0.0001"),
            improvement_percentage=_clamp(-measurement.memory_delta * 100, _PERCENT_LIMIT,
                                          "0.01")))
    rows.append(ModificationMetric(
        modification_id=suggestion_id, metric_name="error_rate",
        baseline_value=_clamp(measurement.error_rate_baseline, _VALUE_LIMIT, "0.0001"),
        modified_value=_clamp(measurement.error_rate_candidate, _VALUE_LIMIT, "0.0001"),
        improvement_percentage=_clamp(-measurement.error_rate_change * 100, _PERCENT_LIMIT,
                                      "0.01")))
    return rows
