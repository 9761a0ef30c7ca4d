"""The `rollback_modification` job: a revert pull request for a merged change, or a withdrawal."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import gidgethub
from gidgethub.abc import GitHubAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.errors import GitHubError, PermanentJobError, SelfmodError
from bot.github.auth import GitHubApp
from bot.github.gitdata import (
    Change,
    RepoRef,
    create_signed_commit,
    create_tree,
    delete_branch,
    point_branch,
)
from bot.github.modifications import update_modification
from bot.github.proposal import (
    REVERT_LABEL,
    SELFMOD_LABEL,
    build_revert_body,
    build_revert_reply,
    build_revert_title,
)
from bot.github.publish import open_pull
from bot.github.replies import ReplyTo, build_failure_reply, post_comment
from bot.github.router import bot_login
from bot.metrics import process_metrics
from bot.settings import Settings
from bot.store.db import create_sessionmaker
from bot.store.models import CodeModification, SuggestionStatus
from bot.store.queue import ClaimedJob
from bot.store.ratelimit import SharedRateLimit
from bot.vcs.keys import SigningKey
from bot.vcs.message import CommitFacts, build_branch_name
from bot.vcs.objects import tree_of
from bot.vcs.revert import RevertConflictError, compute_merge_revert
from bot.vcs.workspace import Workspaces

AUTOMATIC_REASON = "automatic: checks failed"


@dataclass(frozen=True)
class RollbackRequest:
    """The `rollback_modification` payload (see bot/github/context.py)."""

    modification_id: uuid.UUID
    installation_id: int
    full_name: str
    reason: str
    detail: str | None
    requested_by: str | None
    reply_to: ReplyTo | None
    repository_url: str | None = None

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> RollbackRequest:
        """Read a job payload; an automatic rollback records the fixed reason."""
        try:
            automatic = bool(payload.get("automatic"))
            given = str(payload.get("reason") or "").strip()
            return cls(uuid.UUID(str(payload["modification_id"])),
                       int(payload["installation_id"]), str(payload["full_name"]),
                       AUTOMATIC_REASON if automatic else given or "(no reason given)",
                       given if automatic and given else None,
                       payload.get("requested_by"), ReplyTo.parse(payload.get("reply_to")),
                       str(payload["repository_url"]) if payload.get("repository_url")
                       else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentJobError(f"bad rollback_modification payload: {exc!r}") from None

    @property
    def quoted_reason(self) -> str:
        """Return the reason as the revert pull request quotes it."""
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


class RollbackModificationJob:
    """Rolls a self-modification back on GitHub."""

    def __init__(self, *, app: GitHubApp, sessions: async_sessionmaker[AsyncSession],
                 workspaces: Workspaces, key: SigningKey, bot_login: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._app = app
        self._sessions = sessions
        self._workspaces = workspaces
        self._key = key
        self._bot_login = bot_login
        self._clock = clock

    async def __call__(self, job: ClaimedJob) -> Mapping[str, Any]:
        """Run the rollback; tell whoever asked how it went, also when it fails."""
        request = RollbackRequest.parse(job.payload)
        async with aiohttp.ClientSession() as http:
            gh = await self._app.installation_api(http, request.installation_id)
            try:
                return await self._run(http, gh, request)
            except (SelfmodError, gidgethub.HTTPException, OSError) as exc:
                if request.reply_to is not None:
                    final = isinstance(exc, PermanentJobError) or job.attempts >= job.max_attempts
                    await post_comment(gh, request.reply_to, build_failure_reply(
                        "the rollback", exc, retry="`/selfmod rollback <reason>`", final=final))
                raise

    async def _run(self, http: aiohttp.ClientSession, gh: GitHubAPI,
                   request: RollbackRequest) -> dict[str, Any]:
        row = await self._load(request.modification_id)
        named = RepoRef.parse(request.full_name, "", request.repository_url)
        data = await gh.getitem(named.api(), named.args())
        where = RepoRef.parse(str(data["full_name"]), str(data["default_branch"]),
                              str(data.get("url") or "") or None)
        if row.status == SuggestionStatus.PROPOSED.value and row.pull_request_number:
            return await self._withdraw(gh, where, row, request)
        if row.status != SuggestionStatus.APPLIED.value or not row.merge_commit_sha:
            raise PermanentJobError(f"modification {row.id} is {row.status}, not merged: "
                                    "there is nothing to roll back")
        if row.revert_pull_request_number:
            # Asked again: point at the revert already open rather than open a second one.
            url = f"{data['html_url']}/pull/{row.revert_pull_request_number}"
            await self._tell(gh, where, row, request,
                             build_revert_reply(url, row.revert_pull_request_number))
            return {"outcome": "already_open", "revert_number": row.revert_pull_request_number}
        return await self._revert(http, gh, where, str(data["clone_url"]), row, request)

    async def _revert(self, http: aiohttp.ClientSession, gh: GitHubAPI, where: RepoRef,
                      clone_url: str, row: CodeModification,
                      request: RollbackRequest) -> dict[str, Any]:
        started = time.monotonic()
        token = await self._app.installation_token(http, request.installation_id)
        # Full history of the default branch: the merge commit must be in it.
        checkout = await asyncio.to_thread(functools.partial(
            self._workspaces.fetch, f"{where.owner}/{where.repo}", clone_url,
            where.default_branch, token=token, depth=None))
        git, repo = self._workspaces.git, checkout.repo
        merge = str(row.merge_commit_sha)
        try:
            plan = compute_merge_revert(git, repo, merge, checkout.commit)
        except RevertConflictError as exc:
            raise PermanentJobError(str(exc)) from None
        if not plan.changes:
            raise PermanentJobError("the default branch no longer has this change; "
                                    "there is nothing to revert")
        changes = [Change(c.path, c.mode, c.content, c.sha) for c in plan.changes]
        tree = await create_tree(gh, where, tree_of(git, repo, checkout.commit), changes)
        if tree != plan.tree:
            raise GitHubError(f"GitHub built tree {tree[:12]}, the workspace computed "
                              f"{plan.tree[:12]} for the revert")
        original = await gh.getitem(where.api("/pulls/{pull_number}"),
                                    where.args(pull_number=int(row.pull_request_number or 0)))
        title = str(original.get("title") or row.title or "self-modification")
        commit = await create_signed_commit(gh, where, self._key, tree=tree,
                                            parent=checkout.commit, facts=CommitFacts(
            modification_id=str(row.id), title=build_revert_title(title),
            reasoning=f"Rollback of the merge {merge[:12]}: {request.quoted_reason}",
            reverts=merge))
        branch = build_branch_name(str(row.id), revert=True)
        await point_branch(gh, where, branch, commit, bot_login=self._bot_login)
        pull = await open_pull(gh, where, branch, build_revert_title(title), build_revert_body(
            modification_id=str(row.id), original_number=int(row.pull_request_number or 0),
            original_url=row.pull_request_url, reason=request.quoted_reason,
            requested_by=request.requested_by, merge_commit=merge))
        number, url = int(pull["number"]), str(pull["html_url"])
        await gh.post(where.api("/issues/{issue_number}/labels"), where.args(issue_number=number),
                      data={"labels": [SELFMOD_LABEL, REVERT_LABEL]})
        await update_modification(self._sessions, row.id, None, rollback_at=self._clock(),
                                  rollback_reason=request.reason,
                                  revert_pull_request_number=number)
        process_metrics().observe_rollback(time.monotonic() - started,
                                           automatic=request.reason == AUTOMATIC_REASON)
        await self._tell(gh, where, row, request, build_revert_reply(url, number))
        return {"outcome": "revert_opened", "revert_number": number, "revert_url": url,
                "branch": branch, "commit": commit, "tree": tree, "onto": checkout.commit}

    async def _withdraw(self, gh: GitHubAPI, where: RepoRef, row: CodeModification,
                        request: RollbackRequest) -> dict[str, Any]:
        """Close an unmerged proposal and delete its branch."""
        number = int(row.pull_request_number or 0)
        await gh.patch(where.api("/pulls/{pull_number}"), where.args(pull_number=number),
                       data={"state": "closed"})
        deleted = await delete_branch(gh, where, row.branch or build_branch_name(str(row.id)))
        await update_modification(self._sessions, row.id, None,
                                  status=SuggestionStatus.REJECTED.value,
                                  rollback_reason=request.reason)
        await self._tell(gh, where, row, request,
                         f"Closed this unmerged self-mod pull request and deleted its branch "
                         f"(reason: {request.quoted_reason}).")
        return {"outcome": "withdrawn", "number": number, "branch_deleted": deleted}

    async def _tell(self, gh: GitHubAPI, where: RepoRef, row: CodeModification,
                    request: RollbackRequest, body: str) -> None:
        """Reply on the original pull request, and where the command came from if elsewhere."""
        original = ReplyTo(where.owner, where.repo, int(row.pull_request_number or 0),
                           where.api("/issues/{issue_number}/comments"))
        if row.pull_request_number:
            await post_comment(gh, original, body)
        if request.reply_to is not None and request.reply_to != original:
            await post_comment(gh, request.reply_to, body)

    async def _load(self, modification_id: uuid.UUID) -> CodeModification:
        async with self._sessions() as session:
            row = await session.get(CodeModification, modification_id)
        if row is None:
            raise PermanentJobError(f"no modification {modification_id}")
        return row


def build_rollback_job(settings: Settings, engine: AsyncEngine, *, workspaces: Workspaces,
                       key: SigningKey) -> RollbackModificationJob:
    """Return the production `rollback_modification` handler."""
    app = GitHubApp(settings.require_github(), limits=SharedRateLimit(engine))
    return RollbackModificationJob(app=app,
                                   sessions=create_sessionmaker(engine), workspaces=workspaces,
                                   key=key, bot_login=bot_login(settings.github_app_slug))
