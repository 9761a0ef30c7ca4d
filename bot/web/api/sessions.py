"""GET /self-modify/sessions/{id} and /self-modify/modifications/{id}: state, evidence, log."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.record import SessionStore
from bot.safety.score import SafetyLevel
from bot.store.models import (
    FINISHED_SESSION_STATUSES,
    CodeModification,
    ModificationMetric,
    ModificationSession,
    SandboxExecution,
)
from bot.web.api.auth import api_view
from bot.web.api.bodies import parse_uuid
from bot.web.api.problems import ApiError
from bot.web.keys import SESSIONS

routes = web.RouteTableDef()

_OUTPUT_TAIL = 2000


def iso(moment: datetime | None) -> str | None:
    """Return a naive UTC timestamp as ISO 8601 with Z, or None."""
    return None if moment is None else moment.isoformat(timespec="milliseconds") + "Z"


def number(value: Decimal | None) -> float | None:
    """Return a database decimal as a JSON number."""
    return None if value is None else float(value)


def is_finished(session: ModificationSession) -> bool:
    """Tell whether the analysis has ended (its suggestions will not change any more)."""
    return session.status in FINISHED_SESSION_STATUSES


def build_metric_json(row: ModificationMetric) -> dict[str, Any]:
    """Return one modification_metrics row."""
    return {"metric_name": row.metric_name, "baseline_value": number(row.baseline_value),
            "modified_value": number(row.modified_value),
            "improvement_percentage": number(row.improvement_percentage),
            "measured_at": iso(row.measured_at)}


def build_execution_json(row: SandboxExecution) -> dict[str, Any]:
    """Return one sandbox_executions row, output cut to its tail."""
    return {"id": str(row.id),
            "modification_id": None if row.modification_id is None else str(row.modification_id),
            "execution_type": row.execution_type, "command": row.command,
            "exit_code": row.exit_code, "execution_time_ms": row.execution_time_ms,
            "memory_usage_mb": row.memory_usage_mb, "executed_at": iso(row.executed_at),
            "killed_reason": row.killed_reason,
            "stdout_tail": (row.stdout or "")[-_OUTPUT_TAIL:],
            "stderr_tail": (row.stderr or "")[-_OUTPUT_TAIL:]}


def build_suggestion_json(row: CodeModification,
                          metrics: list[ModificationMetric]) -> dict[str, Any]:
    """Return a modification with the PRD's suggestion fields and its evidence."""
    evidence = dict(row.evidence or {})
    applied = evidence.pop("applied", None)
    rollback = evidence.pop("rollback", None)
    return {
        "id": str(row.id), "session_id": None if row.session_id is None else str(row.session_id),
        "modification_type": row.modification_type, "title": row.title,
        "rule_id": row.rule_id, "file_path": row.file_path, "files": list(row.files or []),
        "original_code": row.original_content, "modified_code": row.modified_content,
        "reasoning": row.modification_reason, "diff": row.diff,
        "safety_score": number(row.safety_score),
        "performance_impact": number(row.performance_impact),
        "status": row.status, "rejection_reasons": list(row.rejection_reasons or []),
        "evidence": evidence or None, "metrics": [build_metric_json(m) for m in metrics],
        "branch": row.branch, "commit": row.commit_sha, "previous_commit": row.base_sha,
        "applied": applied, "applied_at": iso(row.applied_at),
        "rollback": rollback, "rollback_at": iso(row.rollback_at),
        "rollback_reason": row.rollback_reason,
    }


def is_visible(row: CodeModification, level: SafetyLevel) -> bool:
    """Tell whether a decided suggestion meets the session's safety level."""
    return row.safety_score is not None and float(row.safety_score) >= level.threshold


def build_log(session: ModificationSession, modifications: list[CodeModification],
              executions: list[SandboxExecution]) -> list[dict[str, Any]]:
    """Return what happened, oldest first, from the recorded timestamps."""
    events: list[tuple[datetime, str, str | None]] = []
    if session.started_at:
        events.append((session.started_at, f"analysis started on {session.commit_sha}", None))
    for run in executions:
        if run.executed_at:
            killed = f", killed: {run.killed_reason}" if run.killed_reason else ""
            events.append((run.executed_at, f"sandbox {run.execution_type}: exit "
                           f"{run.exit_code} in {run.execution_time_ms} ms{killed}",
                           None if run.modification_id is None else str(run.modification_id)))
    for row in modifications:
        mid = str(row.id)
        events.append((row.created_at, f"suggested: {row.title}", mid))
        applied = (row.evidence or {}).get("applied") or {}
        if row.applied_at:
            events.append((row.applied_at, f"applied by {applied.get('approver')} as "
                           f"{row.commit_sha} on {applied.get('branch')}", mid))
        if row.rollback_at:
            events.append((row.rollback_at, f"rolled back: {row.rollback_reason}", mid))
    if session.completed_at:
        done = f"analysis {session.status}" + (f": {session.error}" if session.error else "")
        events.append((session.completed_at, done, None))
    events.sort(key=lambda e: e[0])
    return [{"at": iso(at), "event": text, "modification_id": mid} for at, text, mid in events]


async def load_session(db: AsyncSession, session_id: uuid.UUID) -> ModificationSession:
    """Return the session row; 404 when there is none."""
    session = await db.get(ModificationSession, session_id)
    if session is None:
        raise ApiError(404, f"no analysis {session_id}")
    return session


async def build_session_json(db: AsyncSession, session: ModificationSession) -> dict[str, Any]:
    """Return the whole session: state, suggestions, all modifications, executions, log."""
    rows = list((await db.execute(select(CodeModification)
                                  .where(CodeModification.session_id == session.id)
                                  .order_by(CodeModification.created_at))).scalars())
    ids = [row.id for row in rows]
    metrics = list((await db.execute(select(ModificationMetric).where(
        ModificationMetric.modification_id.in_(ids)))).scalars()) if ids else []
    executions = list((await db.execute(select(SandboxExecution).where(or_(
        SandboxExecution.session_id == session.id,
        SandboxExecution.modification_id.in_(ids))).order_by(
        SandboxExecution.executed_at))).scalars())
    level = SafetyLevel(session.safety_level or "conservative")
    items = {row.id: build_suggestion_json(row, [m for m in metrics
                                                 if m.modification_id == row.id])
             for row in rows}
    return {
        "analysis_id": str(session.id), "codebase_path": session.codebase_path,
        "modification_goals": list(session.modification_goals or []),
        "safety_level": level.value, "status": session.status, "commit": session.commit_sha,
        "started_at": iso(session.started_at), "completed_at": iso(session.completed_at),
        "success_rate": number(session.success_rate), "error": session.error,
        "finished": is_finished(session),
        "suggestions": [items[row.id] for row in rows if is_visible(row, level)],
        "modifications": list(items.values()),
        "sandbox_executions": [build_execution_json(run) for run in executions],
        "log": build_log(session, rows, executions),
    }


async def build_modification_json(db: AsyncSession, row: CodeModification) -> dict[str, Any]:
    """Return one modification with its metrics, sandbox executions and log."""
    metrics = list((await db.execute(select(ModificationMetric).where(
        ModificationMetric.modification_id == row.id))).scalars())
    executions = list((await db.execute(select(SandboxExecution).where(
        SandboxExecution.modification_id == row.id).order_by(
        SandboxExecution.executed_at))).scalars())
    item = build_suggestion_json(row, metrics)
    item["sandbox_executions"] = [build_execution_json(run) for run in executions]
    session = await db.get(ModificationSession, row.session_id) if row.session_id else None
    item["log"] = [] if session is None else [
        e for e in build_log(session, [row], executions) if e["modification_id"] == str(row.id)]
    return item


@routes.get("/self-modify/sessions/{id}")
@api_view
async def get_session(request: web.Request) -> web.Response:
    """Answer an analysis session's state and everything recorded about it."""
    session_id = parse_uuid(request.match_info["id"], "id")
    # One whose process died says so rather than staying in progress for ever.
    await SessionStore(request.app[SESSIONS]).reap_abandoned(session_id=session_id)
    async with request.app[SESSIONS]() as db:
        return web.json_response(await build_session_json(db, await load_session(db,
                                                                                  session_id)))


@routes.get("/self-modify/modifications/{id}")
@api_view
async def get_modification(request: web.Request) -> web.Response:
    """Answer one modification's state, evidence, metrics, sandbox runs and log."""
    modification_id = parse_uuid(request.match_info["id"], "id")
    async with request.app[SESSIONS]() as db:
        row = await db.get(CodeModification, modification_id)
        if row is None:
            raise ApiError(404, f"no modification {modification_id}")
        return web.json_response(await build_modification_json(db, row))
