"""POST /self-modify/apply: commit approved, verified suggestions onto the codebase's branch.

Each suggestion was committed during the analysis on its review branch `self-mod/<id>`, signed
by the app. Applying moves the checked-out branch forward: to the review commit itself for the
first suggestion (a fast-forward), and to a signed commit of the same change on top for the
next ones. The branch moves once, at the end, with git's compare-and-swap.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.errors import GitError
from bot.safety.score import SafetyLevel
from bot.store.models import CodeModification, ModificationStatus, SuggestionStatus
from bot.vcs.commit import create_signed_commit, move_branch
from bot.vcs.message import CommitFacts
from bot.vcs.objects import read_commit, resolve_commit
from bot.vcs.revert import current_branch
from bot.vcs.safegit import Repo
from bot.web.api.auth import api_view
from bot.web.api.bodies import parse_apply, parse_json_object
from bot.web.api.claims import claim, finish
from bot.web.api.codebase import open_codebase, resolve_within_roots
from bot.web.api.problems import ApiError
from bot.web.api.sessions import load_session
from bot.web.api.state import API_STATE, ApiState
from bot.web.approval import ApprovalError, is_approval_configured, verify_token
from bot.web.keys import SESSIONS, SETTINGS

# Transitional states, held only while git runs (guarded in bot.web.api.claims).
APPLYING = SuggestionStatus.APPLYING.value


routes = web.RouteTableDef()


@dataclass(frozen=True)
class Selected:
    """What applying one suggestion needs to know about it."""

    id: uuid.UUID
    title: str
    reasoning: str
    safety_score: float | None
    review_commit: str


@dataclass(frozen=True)
class Applied:
    """Where one suggestion landed."""

    id: uuid.UUID
    previous: str
    commit: str
    kind: str


def check_approved(row: CodeModification, level: SafetyLevel) -> None:
    """Refuse a suggestion the validation did not approve, whatever the token says."""
    if row.status in (SuggestionStatus.APPLIED.value, APPLYING):
        raise ApiError(409, f"modification {row.id} is already applied (status {row.status})")
    if row.status != SuggestionStatus.APPROVED.value:
        reasons = ", ".join(str(r.get("reason", r)) if isinstance(r, dict) else str(r)
                            for r in row.rejection_reasons or []) or "none"
        raise ApiError(409, f"modification {row.id} was not approved by the validation "
                       f"(status {row.status}; reasons: {reasons})")
    if row.safety_score is None or float(row.safety_score) < level.threshold:
        raise ApiError(409, f"modification {row.id} is under the {level.value} safety level")
    if not row.commit_sha:
        raise ApiError(409, f"modification {row.id} has no review commit")


def apply_chain(state: ApiState, repo: Repo, branch: str, analysed: str,
                items: list[Selected], session_id: uuid.UUID) -> list[Applied]:
    """Commit the suggestions in order on top of branch and move it once; return each step."""
    git = state.git
    start = resolve_commit(git, repo, f"refs/heads/{branch}")
    if start != analysed:
        raise ApiError(409, f"{branch} moved since the analysis (analysed {analysed[:12]}, now "
                       f"{start[:12]}): run a new analysis")
    tip, done = start, []
    for item in items:
        review = read_commit(git, repo, item.review_commit)
        if review.parents == (tip,):
            done.append(Applied(item.id, tip, review.sha, "fast-forward"))
        else:
            tree = _cherry_pick_tree(state, repo, tip, review.sha)
            score = None if item.safety_score is None else min(1.0, item.safety_score)
            commit = create_signed_commit(git, repo, state.signing_key(), state.author, tree,
                                          [tip], CommitFacts(str(item.id), item.title,
                                                             item.reasoning, str(session_id),
                                                             score))
            done.append(Applied(item.id, tip, commit, "cherry-pick"))
        tip = done[-1].commit
    move_branch(git, repo, branch, tip, start)
    return done


def _cherry_pick_tree(state: ApiState, repo: Repo, tip: str, review: str) -> str:
    """Return the tree of tip with the review commit's change; 409 when they conflict."""
    merged = state.git.run(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages",
                           tip, review, check=False)
    lines = merged.text.splitlines()
    if merged.returncode == 1:
        raise ApiError(409, "the selected suggestions conflict with each other in: "
                       + ", ".join(line for line in lines[1:] if line))
    if merged.returncode != 0 or not lines:
        raise GitError("git merge-tree failed")
    return lines[0]


async def _load_selected(request: web.Request, session_id: uuid.UUID,
                         ids: tuple[uuid.UUID, ...]
                         ) -> tuple[Path, str, list[CodeModification]]:
    async with request.app[SESSIONS]() as db:
        session = await load_session(db, session_id)
        if session.status != ModificationStatus.COMPLETED:
            raise ApiError(409, f"analysis {session_id} is {session.status}, not completed",
                           extra={"status": "pending" if session.status not in (
                               ModificationStatus.FAILED, ModificationStatus.CANCELLED)
                               else "failed"})
        rows = {row.id: row for row in (await db.execute(select(CodeModification).where(
            CodeModification.id.in_(ids)))).scalars()}
        level = SafetyLevel(session.safety_level or "conservative")
        for index, mid in enumerate(ids):
            row = rows.get(mid)
            if row is None or row.session_id != session_id:
                raise ApiError(404, f"selected_modifications[{index}]: {mid} is not a "
                               f"suggestion of analysis {session_id}",
                               field=f"selected_modifications[{index}]")
            check_approved(row, level)
        return Path(session.codebase_path), str(session.commit_sha), [rows[mid] for mid in ids]


@routes.post("/self-modify/apply")
@api_view
async def apply(request: web.Request) -> web.Response:
    """Apply the selected suggestions of an analysis with an approval token."""
    body = parse_apply(parse_json_object(await request.read()))
    settings, state = request.app[SETTINGS], request.app[API_STATE]
    if body.approval_token is None:
        raise ApiError(401, "approval_token: an approval token is required "
                       "(selfmod token --analysis-id ID --approver NAME)", field="approval_token")
    if not is_approval_configured(settings):
        raise ApiError(503, "approvals are off: the server sets no SELFMOD_APPROVAL_SECRET or "
                       "SELFMOD_APPROVAL_PUBLIC_KEY_PATH")
    try:
        approval = verify_token(settings, body.approval_token, str(body.analysis_id),
                                now=datetime.now(UTC))
    except ApprovalError as exc:
        raise ApiError(403, f"approval_token: {exc}", field="approval_token") from None
    codebase, analysed, rows = await _load_selected(request, body.analysis_id, body.selected)
    path = resolve_within_roots(str(codebase), settings.api_roots)
    repo = await asyncio.to_thread(open_codebase, state.git, path, settings.api_roots)
    async with state.lock_for(path):
        return await _apply_locked(request, state, repo, rows, body.analysis_id, analysed,
                                   approval.approver)


async def _apply_locked(request: web.Request, state: ApiState, repo: Repo,
                        rows: list[CodeModification], session_id: uuid.UUID,
                        analysed: str, approver: str) -> web.Response:
    sessionmaker = request.app[SESSIONS]
    ids = [row.id for row in rows]
    if not await claim(sessionmaker, ids, SuggestionStatus.APPROVED.value, APPLYING):
        raise ApiError(409, "a selected modification is being applied or was applied meanwhile")
    items = [Selected(row.id, row.title or row.rule_id or "change",
                      row.modification_reason or "", number_or_none(row.safety_score),
                      str(row.commit_sha)) for row in rows]
    try:
        branch = await asyncio.to_thread(current_branch, state.git, repo)
        done = await asyncio.to_thread(apply_chain, state, repo, branch, analysed, items,
                                       session_id)
    except (ApiError, GitError) as exc:
        for mid in ids:
            await finish(sessionmaker, mid, APPLYING, {"status": SuggestionStatus.APPROVED.value})
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        raise ApiError(409, message, extra={"modification_id": str(ids[0]),
                                            "status": "failed"}) from None
    now = datetime.now(UTC).replace(tzinfo=None)
    for row, step in zip(rows, done, strict=True):
        evidence = dict(row.evidence or {})
        evidence["applied"] = {"branch": branch, "previous_commit": step.previous,
                               "commit": step.commit, "kind": step.kind, "approver": approver,
                               "review_commit": row.commit_sha}
        await finish(sessionmaker, row.id, APPLYING, {
            "status": SuggestionStatus.APPLIED.value, "applied_at": now,
            "base_sha": step.previous, "commit_sha": step.commit, "evidence": evidence})
    return web.json_response(build_apply_json(branch, done))


def number_or_none(value: Any) -> float | None:
    """Return a decimal as a float, or None."""
    return None if value is None else float(value)


def build_apply_json(branch: str, done: list[Applied]) -> dict[str, Any]:
    """Return the answer: the first modification's id (the PRD's field) and every step."""
    return {"modification_id": str(done[0].id), "status": "applied", "branch": branch,
            "git_commit_hash": done[-1].commit, "previous_commit": done[0].previous,
            "modifications": [{"modification_id": str(s.id), "previous_commit": s.previous,
                               "commit": s.commit, "kind": s.kind} for s in done]}
