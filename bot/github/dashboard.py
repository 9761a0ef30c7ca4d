"""The dashboard issue: one per repository, kept current, and its checkboxes as requests.

Like Renovate's dependency dashboard, it is created once and edited in place: its number is
remembered with the repository, and the issue is trusted only while it is open, the app's, and
carries the hidden marker. Ticking the box of a pending suggestion (an approved change the
proposal limits held back) asks for its pull request; the box becomes a link once it is open.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import gidgethub
from gidgethub import sansio
from gidgethub.abc import GitHubAPI
from gidgethub.routing import Router
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.errors import GitHubError, PermanentJobError
from bot.github.auth import GitHubApp
from bot.github.context import EventContext, repository_group
from bot.github.gitdata import Change, RepoRef
from bot.github.proposal import build_facts
from bot.github.publish import publish_proposal
from bot.learning.feedback import record_reactions, refresh_statistics
from bot.learning.profile import Profile, Scope
from bot.settings import Settings
from bot.store.db import create_sessionmaker
from bot.store.models import (
    CodeModification,
    ModificationSession,
    Repository,
    SuggestionStatus,
)
from bot.store.queue import ClaimedJob
from bot.store.ratelimit import SharedRateLimit
from bot.vcs.keys import SigningKey

log = logging.getLogger(__name__)
router = Router()

DASHBOARD_JOB = "update_dashboard"
MARKER = "<!-- selfmod:dashboard -->"
TITLE = "selfmod dashboard"
DASHBOARD_SETTING = "dashboard_issue"  # where `repositories.settings` keeps its number
_PENDING = re.compile(r"^\s*[-*]\s*\[([ xX])\]\s*<!--\s*selfmod:pending:([0-9a-fA-F-]{36})\s*-->",
                      re.MULTILINE)
_RECENT = timedelta(days=30)
_LIMIT = 20  # lines per section


@dataclass(frozen=True)
class Line:
    """One modification as the dashboard lists it."""

    id: str
    title: str
    number: int | None = None
    url: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DashboardFacts:
    """Everything the dashboard shows."""

    open: Sequence[Line] = ()
    pending: Sequence[Line] = ()
    merged: Sequence[Line] = ()
    rolled_back: Sequence[Line] = ()
    rejected: Sequence[Line] = ()
    suppressed: Sequence[tuple[str, str, str]] = ()  # rule, area, why
    constraints: Sequence[tuple[str, str]] = ()  # category, because
    notes: Sequence[str] = field(default_factory=tuple)


def _link(line: Line) -> str:
    where = f"[#{line.number}]({line.url})" if line.number and line.url else (
        f"#{line.number}" if line.number else "")
    return f"{where} {line.title}".strip()


def build_dashboard_body(facts: DashboardFacts) -> str:
    """Return the dashboard issue's body (pure: the same facts give the same text)."""
    parts = [MARKER, "This issue lists what selfmod proposes in this repository and what it "
             "learned from your reviews. selfmod keeps it up to date; edit only the checkboxes."]

    def section(title: str, lines: Sequence[str], empty: str) -> None:
        parts.append(f"## {title}\n\n" + ("\n".join(lines[:_LIMIT]) if lines else f"_{empty}_"))

    section("Open self-mod pull requests", [f"- {_link(x)}" for x in facts.open], "None.")
    section("Pending suggestions", [
        f"- [ ] <!-- selfmod:pending:{x.id} --> {x.title}" for x in facts.pending],
        "None. Tick a box here to have selfmod open that pull request.")
    section("Recently merged", [f"- {_link(x)}" for x in facts.merged], "None.")
    section("Rolled back", [f"- {_link(x)}: {x.reason or 'no reason given'}"
                            for x in facts.rolled_back], "None.")
    section("Rejected suggestions", [f"- {x.title}: {x.reason or 'rejected'}"
                                     for x in facts.rejected], "None.")
    section("Suppressed rules", [f"- `{rule}`{f' in `{area}`' if area else ''}: {why}"
                                 for rule, area, why in facts.suppressed], "None.")
    section("Learned constraints", [f"- {category}: because {because}"
                                    for category, because in facts.constraints], "None.")
    if facts.notes:
        parts.append("\n".join(f"> {note}" for note in facts.notes))
    return "\n\n".join(parts) + "\n"


def parse_ticked(body: str | None) -> list[uuid.UUID]:
    """Return the pending suggestions whose boxes are ticked, in order."""
    return [uuid.UUID(m.group(2)) for m in _PENDING.finditer(body or "")
            if m.group(1) in "xX"]


def is_dashboard(body: str | None) -> bool:
    """Tell whether an issue body is a selfmod dashboard."""
    return MARKER in (body or "")


async def find_dashboard(gh: GitHubAPI, where: RepoRef, login: str,
                         number: int | None) -> dict[str, Any] | None:
    """Return the remembered dashboard issue if it is still open, ours, and carries the marker."""
    if number is None:
        return None
    try:
        issue: dict[str, Any] = await gh.getitem(where.api("/issues/{issue_number}"),
                                                 where.args(issue_number=number))
    except gidgethub.BadRequest as exc:
        if int(exc.status_code) in (404, 410):
            return None
        raise
    if (issue.get("state") != "open" or "pull_request" in issue
            or (issue.get("user") or {}).get("login") != login
            or not is_dashboard(issue.get("body"))):
        return None
    return issue


def _line(row: CodeModification, reason: str | None = None) -> Line:
    return Line(str(row.id), row.title or row.rule_id or "change", row.pull_request_number,
                row.pull_request_url, reason)


def _reasons(row: CodeModification) -> str:
    found = row.rejection_reasons or []
    texts = [str(r.get("detail") or r.get("reason")) if isinstance(r, dict) else str(r)
             for r in found]
    return "; ".join(texts)[:300] or "rejected"


async def load_facts(sessions: async_sessionmaker[AsyncSession], repository_id: int,
                     profile: Profile, now: datetime) -> DashboardFacts:
    """Read the repository's modifications and what it learned into the dashboard's facts."""
    since = now - _RECENT
    async with sessions() as session:
        rows = (await session.execute(
            select(CodeModification)
            .join(ModificationSession, CodeModification.session_id == ModificationSession.id)
            .where(ModificationSession.repository_id == repository_id)
            .order_by(CodeModification.created_at.desc()).limit(500))).scalars().all()
    recent = [r for r in rows if r.created_at is None or r.created_at >= since]
    return DashboardFacts(
        open=[_line(r) for r in rows if r.status == SuggestionStatus.PROPOSED.value],
        pending=[_line(r) for r in recent if is_pending(r)],
        merged=[_line(r) for r in recent if r.status == SuggestionStatus.APPLIED.value],
        rolled_back=[_line(r, r.rollback_reason) for r in recent
                     if r.status == SuggestionStatus.ROLLED_BACK.value or r.rollback_reason],
        rejected=[_line(r, _reasons(r)) for r in recent if r.pull_request_number is None
                  and r.status == SuggestionStatus.REJECTED.value],
        suppressed=[(rule, area, why) for (rule, area), why in sorted(profile.suppressed.items())],
        constraints=[(c.value, why) for c, why in profile.complaints])


def is_pending(row: CodeModification) -> bool:
    """Tell whether a modification was approved but has no pull request yet."""
    return row.status == SuggestionStatus.APPROVED.value and row.pull_request_number is None


class Dashboard:
    """Keeps one repository's dashboard current and acts on its ticked boxes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key: SigningKey, *,
                 bot_login: str) -> None:
        self._sessions = sessions
        self._key = key
        self._login = bot_login

    async def sync(self, gh: GitHubAPI, where: RepoRef, repository_id: int, *,
                   now: datetime) -> dict[str, Any]:
        """Open ticked suggestions, read reactions, then create or update the issue."""
        issue = await find_dashboard(gh, where, self._login,
                                     await self._remembered(repository_id))
        notes = []
        opened = []
        for modification_id in parse_ticked(issue.get("body") if issue else None):
            try:
                number = await self.open_pending(gh, where, repository_id, modification_id)
            except GitHubError as exc:
                notes.append(f"Could not open the pull request of {modification_id}: {exc}")
                continue
            if number is not None:
                opened.append(number)
        await self.read_reactions(gh, where, repository_id)
        profile = await refresh_statistics(self._sessions, Scope(repository_id), now=now)
        facts = await load_facts(self._sessions, repository_id, profile, now)
        body = build_dashboard_body(DashboardFacts(**{**vars(facts), "notes": tuple(notes)}))
        if issue is None:
            created = await gh.post(where.api("/issues"), where.args(),
                                    data={"title": TITLE, "body": body})
            await self._remember(repository_id, where, int(created["number"]))
            return {"issue": created["number"], "created": True, "opened": opened}
        if issue.get("body") != body:
            await gh.patch(where.api("/issues/{issue_number}"),
                           where.args(issue_number=issue["number"]), data={"body": body})
        return {"issue": issue["number"], "created": False, "opened": opened}

    async def open_pending(self, gh: GitHubAPI, where: RepoRef, repository_id: int,
                           modification_id: uuid.UUID) -> int | None:
        """Open the pull request of a pending suggestion; None when it is not pending."""
        async with self._sessions() as session:
            found = (await session.execute(
                select(CodeModification, ModificationSession)
                .join(ModificationSession,
                      CodeModification.session_id == ModificationSession.id)
                .where(CodeModification.id == modification_id,
                       ModificationSession.repository_id == repository_id))).first()
        if found is None or not is_pending(found[0]):
            return None  # already opened (a repeated tick), or not this repository's
        row, run = found
        if len(row.files or [row.file_path]) != 1 or row.modified_content is None:
            raise GitHubError("it changes several files; run `/selfmod analyze` to propose "
                              "it again")
        item = {"id": str(row.id), "title": row.title, "rule_id": row.rule_id,
                "modification_type": row.modification_type,
                "safety_score": float(row.safety_score or 0), **(row.evidence or {})}
        facts = build_facts(item, diff=row.diff or "", reasoning=row.modification_reason or "",
                            safety_level=str(run.safety_level or "conservative"),
                            session_id=str(run.id))
        change = Change(row.file_path, "100644", row.modified_content.encode())
        done = await publish_proposal(gh, where, self._key, facts, [change],
                                      analysed=str(run.commit_sha), bot_login=self._login)
        async with self._sessions.begin() as session:
            await session.execute(update(CodeModification).where(
                CodeModification.id == row.id).values(
                branch=done.branch, commit_sha=done.commit, base_sha=done.base,
                pull_request_number=done.number, pull_request_url=done.url,
                status=SuggestionStatus.PROPOSED.value))
        return done.number

    async def read_reactions(self, gh: GitHubAPI, where: RepoRef, repository_id: int) -> int:
        """Store new reactions on the repository's recent self-mod pull requests as feedback."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(CodeModification.id, CodeModification.pull_request_number)
                .join(ModificationSession,
                      CodeModification.session_id == ModificationSession.id)
                .where(ModificationSession.repository_id == repository_id,
                       CodeModification.pull_request_number.is_not(None))
                .order_by(CodeModification.created_at.desc()).limit(_LIMIT))).all()
        added = 0
        for modification_id, number in rows:
            try:
                issue = await gh.getitem(where.api("/issues/{issue_number}"),
                                         where.args(issue_number=number))
            except gidgethub.BadRequest as exc:
                if int(exc.status_code) not in (404, 410):
                    raise
                continue  # gone (a transferred repository, a deleted issue)
            added += await record_reactions(self._sessions, modification_id, repository_id,
                                            dict(issue.get("reactions") or {}))
        return added

    async def _remembered(self, repository_id: int) -> int | None:
        async with self._sessions() as session:
            row = await session.get(Repository, repository_id)
        number = (row.settings or {}).get(DASHBOARD_SETTING) if row is not None else None
        return int(number) if isinstance(number, int) else None

    async def _remember(self, repository_id: int, where: RepoRef, number: int) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(Repository, repository_id)
            if row is None:
                row = Repository(id=repository_id, full_name=f"{where.owner}/{where.repo}",
                                 default_branch=where.default_branch)
                session.add(row)
            row.settings = {**(row.settings or {}), DASHBOARD_SETTING: number}


class DashboardJob:
    """Runs `update_dashboard` jobs."""

    def __init__(self, app: GitHubApp, dashboard: Dashboard) -> None:
        self._app = app
        self._dashboard = dashboard

    async def __call__(self, job: ClaimedJob) -> Mapping[str, Any]:
        """Bring the repository's dashboard up to date."""
        try:
            installation = int(job.payload["installation_id"])
            repository_id = int(job.payload["repository_id"])
            where = RepoRef.parse(str(job.payload["full_name"]),
                                  str(job.payload["default_branch"]),
                                  job.payload.get("repository_url"))
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentJobError(f"bad update_dashboard payload: {exc!r}") from None
        async with aiohttp.ClientSession() as http:
            gh = await self._app.installation_api(http, installation)
            return await self._dashboard.sync(gh, where, repository_id, now=utcnow())


def build_dashboard_payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the job payload for the repository of a webhook."""
    repository = data["repository"]
    return {"installation_id": (data.get("installation") or {}).get("id"),
            "repository_id": repository["id"], "full_name": repository["full_name"],
            "repository_url": repository.get("url"),
            "default_branch": repository.get("default_branch")}


@router.register("issues", action="edited")
async def issues_edited(event: sansio.Event, ctx: EventContext) -> None:
    """A person edited the dashboard (ticked a box): bring it up to date."""
    issue = event.data["issue"]
    sender = event.data.get("sender") or {}
    if not is_dashboard(issue.get("body")) or sender.get("login") == ctx.bot_login:
        return
    if str((issue.get("user") or {}).get("login")) != ctx.bot_login:
        return  # someone copied the marker into an issue of their own
    await ctx.queue.enqueue(DASHBOARD_JOB, build_dashboard_payload(event.data), now=ctx.now,
                            key=f"dashboard:{ctx.delivery_id}",
                            group_key=repository_group(event.data["repository"]["id"]))


def build_dashboard_job(settings: Settings, engine: AsyncEngine, *,
                        key: SigningKey) -> DashboardJob:
    """Return the production `update_dashboard` handler."""
    from bot.github.router import bot_login  # the router imports this module

    login = bot_login(settings.github_app_slug)
    return DashboardJob(GitHubApp(settings.require_github(), limits=SharedRateLimit(engine)),
                        Dashboard(create_sessionmaker(engine), key, bot_login=login))
