"""POST /self-modify/rollback: bring the codebase's branch back to before a modification."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.errors import GitError
from bot.store.models import CodeModification, ModificationSession, SuggestionStatus
from bot.vcs.message import CommitFacts
from bot.vcs.revert import Rollback, rollback_local
from bot.vcs.safegit import Repo
from bot.web.api.auth import api_view
from bot.web.api.bodies import RollbackBody, parse_json_object, parse_rollback
from bot.web.api.claims import claim, finish
from bot.web.api.codebase import open_codebase, resolve_within_roots
from bot.web.api.problems import ApiError
from bot.web.api.state import API_STATE, ApiState
from bot.web.keys import SESSIONS, SETTINGS

# Transitional states, held only while git runs (guarded in bot.web.api.claims).
APPLYING = SuggestionStatus.APPLYING.value
ROLLING_BACK = SuggestionStatus.ROLLING_BACK.value


routes = web.RouteTableDef()


def check_rollback(row: CodeModification) -> dict[str, Any]:
    """Return how the modification was applied; 409 when it is not applied now."""
    if row.status == SuggestionStatus.ROLLED_BACK.value:
        raise ApiError(409, f"modification {row.id} is already rolled back",
                       extra={"status": "failed"})
    if row.status in (APPLYING, ROLLING_BACK):
        raise ApiError(409, f"modification {row.id} is {row.status.replace('_', ' ')} now",
                       extra={"status": "failed"})
    applied = (row.evidence or {}).get("applied")
    if row.status != SuggestionStatus.APPLIED.value or not applied or not row.base_sha:
        raise ApiError(409, f"modification {row.id} was never applied (status {row.status})",
                       extra={"status": "failed"})
    return dict(applied)


def roll_back(state: ApiState, repo: Repo, row: CodeModification, branch: str,
              reason: str) -> Rollback:
    """Reset the branch to the recorded commit, or add a signed revert when work came after."""
    facts = CommitFacts(str(row.id), f"Revert {row.title or row.rule_id or 'change'}",
                        f"Rollback reason: {reason}", str(row.session_id),
                        reverts=row.commit_sha)
    return rollback_local(state.git, repo, state.signing_key(), state.author, branch=branch,
                          before=str(row.base_sha), applied=str(row.commit_sha), facts=facts)


@routes.post("/self-modify/rollback")
@api_view
async def rollback(request: web.Request) -> web.Response:
    """Roll back an applied modification and record when and why."""
    body = parse_rollback(parse_json_object(await request.read()))
    settings, state = request.app[SETTINGS], request.app[API_STATE]
    async with request.app[SESSIONS]() as db:
        row = await db.get(CodeModification, body.modification_id)
        if row is None:
            raise ApiError(404, f"no modification {body.modification_id}")
        session = await db.get(ModificationSession, row.session_id) if row.session_id else None
    if session is None:
        raise ApiError(409, f"modification {row.id} belongs to no analysis")
    check_rollback(row)
    path = resolve_within_roots(session.codebase_path, settings.api_roots)
    repo = await asyncio.to_thread(open_codebase, state.git, path, settings.api_roots)
    async with state.lock_for(path):
        return await _rollback_locked(request, state, repo, body)


async def _rollback_locked(request: web.Request, state: ApiState, repo: Repo,
                           body: RollbackBody) -> web.Response:
    sessionmaker = request.app[SESSIONS]
    mid: uuid.UUID = body.modification_id
    async with sessionmaker() as db:
        row = await db.get(CodeModification, mid)
    assert row is not None  # it existed a moment ago and rows are never deleted
    applied = check_rollback(row)
    if not await claim(sessionmaker, [mid], SuggestionStatus.APPLIED.value, ROLLING_BACK):
        raise ApiError(409, f"modification {mid} changed state meanwhile",
                       extra={"status": "failed"})
    try:
        done = await asyncio.to_thread(roll_back, state, repo, row, str(applied["branch"]),
                                       body.reason)
    except GitError as exc:
        await finish(sessionmaker, mid, ROLLING_BACK, {"status": SuggestionStatus.APPLIED.value})
        raise ApiError(409, f"the rollback failed: {exc}", extra={"status": "failed"}) from None
    evidence = dict(row.evidence or {})
    evidence["rollback"] = {"kind": done.kind, "branch": done.branch, "commit": done.commit}
    await finish(sessionmaker, mid, ROLLING_BACK, {
        "status": SuggestionStatus.ROLLED_BACK.value,
        "rollback_at": datetime.now(UTC).replace(tzinfo=None),
        "rollback_reason": body.reason, "evidence": evidence})
    return web.json_response({"status": "success", "restored_version": done.commit,
                              "kind": done.kind, "modification_id": str(mid)})
