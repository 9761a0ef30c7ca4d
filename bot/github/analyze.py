"""The `analyze_repository` job: checkout, pipeline, then a signed pull request per winner."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import gidgethub
from gidgethub.abc import GitHubAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.analysis.repoconfig import RepoConfig, load_repo_config
from bot.clock import utcnow
from bot.errors import GitError, GitHubError, PermanentJobError, SelfmodError
from bot.github.auth import GitHubApp
from bot.github.dashboard import Dashboard
from bot.github.gitdata import Change, RepoRef
from bot.github.limits import Candidate, ProposalLimits, Verdict, plan_proposals
from bot.github.pacing import load_history
from bot.github.proposal import ProposalFacts, build_facts, build_fingerprint
from bot.github.publish import Published, list_open_self_mod_pulls, publish_proposal
from bot.github.replies import ReplyTo, build_failure_reply, post_comment
from bot.github.router import bot_login
from bot.github.stale import close_stale_pulls
from bot.settings import Settings
from bot.store.db import create_sessionmaker
from bot.store.models import CodeModification, ModificationSession, SuggestionStatus
from bot.store.queue import ClaimedJob
from bot.store.ratelimit import SharedRateLimit
from bot.vcs.keys import SigningKey
from bot.vcs.objects import tree_of
from bot.vcs.revert import tree_changes
from bot.vcs.safegit import Repo
from bot.vcs.workspace import Workspaces

log = logging.getLogger(__name__)

# Runs the engine's pipeline on a checked-out commit and returns its report (run JSON).
EngineRun = Callable[[Path], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class AnalyzeRequest:
    """The `analyze_repository` payload (see bot/github/context.py)."""

    installation_id: int
    repository_id: int
    full_name: str
    clone_url: str
    default_branch: str
    commit_sha: str | None
    trigger: str
    reply_to: ReplyTo | None
    repository_url: str | None = None

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> AnalyzeRequest:
        """Read a job payload; a malformed one can never succeed."""
        try:
            return cls(int(payload["installation_id"]), int(payload["repository_id"]),
                       str(payload["full_name"]), str(payload["clone_url"]),
                       str(payload["default_branch"]),
                       str(payload["commit_sha"]) if payload.get("commit_sha") else None,
                       str(payload.get("trigger") or "push"),
                       ReplyTo.parse(payload.get("reply_to")),
                       str(payload["repository_url"]) if payload.get("repository_url")
                       else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentJobError(f"bad analyze_repository payload: {exc!r}") from None

    @property
    def where(self) -> RepoRef:
        """Return the repository as the API calls name it."""
        return RepoRef.parse(self.full_name, self.default_branch, self.repository_url)


class AnalyzeRepositoryJob:
    """Analyses a repository's commit and proposes what the pipeline approved."""

    def __init__(self, *, app: GitHubApp, sessions: async_sessionmaker[AsyncSession],
                 workspaces: Workspaces, key: SigningKey, engine: EngineRun, bot_login: str,
                 per_hour: int, stale_after: timedelta,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._app = app
        self._sessions = sessions
        self._workspaces = workspaces
        self._key = key
        self._engine = engine
        self._bot_login = bot_login
        self._per_hour = per_hour
        self._stale_after = stale_after
        self._clock = clock

    async def __call__(self, job: ClaimedJob) -> Mapping[str, Any]:
        """Run the job; tell the user who asked how it went, also when it fails."""
        request = AnalyzeRequest.parse(job.payload)
        async with aiohttp.ClientSession() as http:
            gh = await self._app.installation_api(http, request.installation_id)
            try:
                result = await self._run(http, gh, request)
                # Each session re-reads the dashboard's ticks and rewrites it (learning's view).
                result["dashboard"] = await Dashboard(
                    self._sessions, self._key, bot_login=self._bot_login).sync(
                    gh, request.where,
                    request.repository_id, now=self._clock())
            except (SelfmodError, gidgethub.HTTPException, OSError) as exc:
                if request.reply_to is not None:
                    await post_comment(gh, request.reply_to, build_failure_reply(
                        "the analysis", exc, retry="`/selfmod analyze`",
                        final=_is_final(job, exc)))
                raise
            if request.reply_to is not None:
                await post_comment(gh, request.reply_to, build_analysis_reply(result))
        return result

    async def _run(self, http: aiohttp.ClientSession, gh: GitHubAPI,
                   request: AnalyzeRequest) -> dict[str, Any]:
        where = request.where
        closed = await close_stale_pulls(gh, self._sessions,
                                         await list_open_self_mod_pulls(gh, where),
                                         now=self._clock(), max_age=self._stale_after)
        token = await self._app.installation_token(http, request.installation_id)
        checkout = await self._workspaces.async_sync(
            request.full_name, request.clone_url, request.commit_sha or request.default_branch,
            token=token)
        config = load_repo_config(_work_tree(checkout.repo))
        report = await self._engine(_work_tree(checkout.repo))
        await self._adopt_session(report, request)
        approved = [s for s in report.get("suggestions") or [] if s.get("status") == "approved"]
        published, verdicts = await self._propose(gh, where, request.repository_id,
                                                  checkout.repo, checkout.commit, config,
                                                  approved, report)
        return {"commit": checkout.commit, "session_id": report.get("session_id"),
                "status": report.get("status"), "reason": report.get("reason"),
                "suggestions": len(report.get("suggestions") or []),
                "approved": len(approved), "stale_closed": closed,
                "proposed": [{"modification_id": p.modification_id, "number": p.number,
                              "url": p.url, "branch": p.branch, "commit": p.commit,
                              "base": p.base} for p in published],
                "skipped": [{"modification_id": v.modification_id,
                             "reason": v.reason.value if v.reason else "failed",
                             "detail": v.detail} for v in verdicts if not v.propose]}

    async def _propose(self, gh: GitHubAPI, where: RepoRef, repository_id: int, repo: Repo,
                       analysed: str, config: RepoConfig, approved: Sequence[Mapping[str, Any]],
                       report: Mapping[str, Any]) -> tuple[list[Published], list[Verdict]]:
        rows = await self._rows([str(s["id"]) for s in approved])
        candidates = [Candidate(str(s["id"]), build_fingerprint(rows[str(s["id"])].diff or ""))
                      for s in approved if str(s["id"]) in rows]
        history = await load_history(gh, where, self._sessions, repository_id,
                                     await list_open_self_mod_pulls(gh, where),
                                     now=self._clock())
        verdicts = plan_proposals(candidates, open_count=history.open_count,
                                  recent_count=history.recent_count, blocked=history.blocked,
                                  limits=ProposalLimits(config.max_open_pull_requests,
                                                        self._per_hour))
        published = []
        by_id = {str(s["id"]): s for s in approved}
        for index, verdict in enumerate(verdicts):
            item = by_id[verdict.modification_id]
            if not verdict.propose:
                await self._forget_local(verdict.modification_id)
                continue
            row = rows[verdict.modification_id]
            facts = build_facts(item, diff=row.diff or "", reasoning=row.modification_reason
                                or "", safety_reasons=item.get("safety_reasons") or (),
                                safety_level=str(report.get("safety_level") or "conservative"),
                                session_id=report.get("session_id"))
            try:
                done = await self._publish(gh, where, repo, analysed, config, facts, item)
            except GitHubError as exc:
                # One proposal that cannot be made does not stop the others.
                log.warning("proposal %s not opened: %s", verdict.modification_id, exc)
                verdicts[index] = Verdict(verdict.modification_id, False, None, str(exc))
                await self._forget_local(verdict.modification_id)
                continue
            published.append(done)
            await self._record(done)
        return published, verdicts

    async def _publish(self, gh: GitHubAPI, where: RepoRef, repo: Repo, analysed: str,
                       config: RepoConfig, facts: ProposalFacts,
                       item: Mapping[str, Any]) -> Published:
        local = item.get("commit")
        if not local:
            raise GitHubError("the pipeline approved the change but made no commit of it")
        git = self._workspaces.git
        changes = [Change(c.path, c.mode, c.content, c.sha) for c in tree_changes(
            git, repo, tree_of(git, repo, analysed), tree_of(git, repo, str(local)))]
        if not changes:
            raise GitHubError("the approved change changes nothing")
        extra = [label for label in config.labels if label]
        return await publish_proposal(gh, where, self._key, facts, changes, analysed=analysed,
                                      bot_login=self._bot_login, extra_labels=extra,
                                      expected_tree=tree_of(git, repo, str(local)))

    async def _rows(self, ids: Sequence[str]) -> dict[str, CodeModification]:
        if not ids:
            return {}
        async with self._sessions() as session:
            found = (await session.execute(select(CodeModification).where(
                CodeModification.id.in_([uuid.UUID(i) for i in ids])))).scalars().all()
        return {str(row.id): row for row in found}

    async def _adopt_session(self, report: Mapping[str, Any], request: AnalyzeRequest) -> None:
        """Mark the engine's session as this repository's, started by this trigger."""
        if not report.get("session_id"):
            raise GitHubError("the pipeline recorded no session")
        async with self._sessions.begin() as session:
            await session.execute(update(ModificationSession).where(
                ModificationSession.id == uuid.UUID(str(report["session_id"]))).values(
                repository_id=request.repository_id, trigger=request.trigger))

    async def _record(self, done: Published) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(CodeModification).where(
                CodeModification.id == uuid.UUID(done.modification_id)).values(
                branch=done.branch, commit_sha=done.commit, base_sha=done.base,
                pull_request_number=done.number, pull_request_url=done.url,
                status=SuggestionStatus.PROPOSED.value))

    async def _forget_local(self, modification_id: str) -> None:
        """Clear the workspace-only branch and commit the engine recorded for a non-proposal."""
        async with self._sessions.begin() as session:
            await session.execute(update(CodeModification).where(
                CodeModification.id == uuid.UUID(modification_id)).values(
                branch=None, commit_sha=None))


def build_analysis_reply(result: Mapping[str, Any]) -> str:
    """Return the reply to `/selfmod analyze` once the job is done."""
    lines = [f"Analysed {str(result['commit'])[:12]}: {result['suggestions']} suggestion(s), "
             f"{result['approved']} approved."]
    if result.get("reason"):
        lines.append(str(result["reason"]))
    lines += [f"- opened #{p['number']}: {p['url']}" for p in result["proposed"]]
    lines += [f"- not proposed ({s['reason']}): {s['detail']}" for s in result["skipped"]]
    return "\n".join(lines)


def _is_final(job: ClaimedJob, exc: BaseException) -> bool:
    return isinstance(exc, PermanentJobError) or job.attempts >= job.max_attempts


def _work_tree(repo: Repo) -> Path:
    if repo.work_tree is None:
        raise GitError("the workspace has no work tree")
    return repo.work_tree


def build_analyze_job(settings: Settings, engine: AsyncEngine, *, workspaces: Workspaces,
                      key: SigningKey) -> AnalyzeRepositoryJob:
    """Return the production `analyze_repository` handler (the pipeline of `selfmod run`)."""
    from bot.engine.command import run_local
    from bot.engine.pipeline import RunOptions

    async def run_engine(path: Path) -> Mapping[str, Any]:
        return await run_local(path, RunOptions(), settings)

    return AnalyzeRepositoryJob(
        app=GitHubApp(settings.require_github(), limits=SharedRateLimit(engine)),
        sessions=create_sessionmaker(engine),
        workspaces=workspaces, key=key, engine=run_engine,
        bot_login=bot_login(settings.github_app_slug), per_hour=settings.proposals_per_hour,
        stale_after=timedelta(days=settings.stale_pull_request_days))
