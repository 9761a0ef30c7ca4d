"""Helpers of the GitHub tests: a seeded repository of the double, modification rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes.github import RunningApp
from gidgethub.abc import GitHubAPI
from sqlalchemy import select

from bot.fakehub import git as gitops
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Issue, Repo
from bot.github.gitdata import RepoRef
from bot.store.models import CodeModification, ModificationSession, Repository

BOT = "agent-self-modify[bot]"


@dataclass
class HubRepo:
    """A repository of the double with one commit on main, and a client as the installation."""

    hub: FakeHub
    repo: Repo
    gh: GitHubAPI
    where: RepoRef
    root: str

    async def commit(self, files: dict[str, str], parent: str, **extra: Any) -> str:
        """Commit files on parent through the Git Data API (extra: author, message)."""
        base = (await self.gh.getitem(self.where.api(f"/git/commits/{parent}")))["tree"]["sha"]
        tree = await self.gh.post(self.where.api("/git/trees"), data={
            "base_tree": base, "tree": [{"path": p, "mode": "100644", "type": "blob",
                                         "content": c} for p, c in files.items()]})
        made = await self.gh.post(self.where.api("/git/commits"), data={
            "message": "change", "tree": tree["sha"], "parents": [parent], **extra})
        return str(made["sha"])

    async def set_branch(self, branch: str, sha: str) -> None:
        """Create or force-move a branch."""
        if await self.hub_sha(branch) is None:
            await self.gh.post(self.where.api("/git/refs"),
                               data={"ref": f"refs/heads/{branch}", "sha": sha})
        else:
            await self.gh.patch(self.where.api("/git/refs/{ref}"), {"ref": f"heads/{branch}"},
                                data={"sha": sha, "force": True})

    async def hub_sha(self, branch: str) -> str | None:
        """Return the commit a branch of the double points at."""
        return await gitops.resolve(self.repo.path, f"refs/heads/{branch}")


async def seed_modification(engine: Any, repository_id: int, *, status: str = "proposed",
                            diff: str = "-a = 1\n+a = 2\n", number: int | None = None,
                            modification_id: uuid.UUID | None = None) -> uuid.UUID:
    """Insert a repository (once), a session and a modification; return the modification id."""
    modification_id = modification_id or uuid.uuid4()
    session_id = uuid.uuid4()
    async with engine.begin() as connection:
        known = await connection.scalar(select(Repository.id).where(
            Repository.id == repository_id))
        if known is None:
            await connection.execute(Repository.__table__.insert().values(
                id=repository_id, full_name=f"octo-org/r{repository_id}"))
        await connection.execute(ModificationSession.__table__.insert().values(
            id=session_id, codebase_path="octo-org/graphs", repository_id=repository_id))
        await connection.execute(CodeModification.__table__.insert().values(
            id=modification_id, session_id=session_id, file_path="a.py", status=status,
            diff=diff, pull_request_number=number))
    return modification_id


async def read_modification(engine: Any, modification_id: uuid.UUID) -> Any:
    """Return a modification's row."""
    async with engine.connect() as connection:
        return (await connection.execute(select(CodeModification).where(
            CodeModification.id == modification_id))).one()


async def open_self_mod_pull(hub_repo: HubRepo, modification_id: uuid.UUID, *,
                             age: timedelta, revert: bool = False) -> Issue:
    """Open a pull request from the app's branch of a modification, opened `age` ago."""
    branch = f"self-mod/{modification_id}" + ("-revert" if revert else "")
    sha = await hub_repo.commit({"a.py": f"a = {uuid.uuid4().int % 1000}\n"}, hub_repo.root)
    await hub_repo.set_branch(branch, sha)
    pull = await hub_repo.hub.open_pull(hub_repo.repo, branch, "main", "Speed up", BOT)
    pull.created_at = datetime.now(UTC) - age
    return pull


async def settle(app: RunningApp, hub: FakeHub) -> None:
    """Deliver the double's webhooks and run the jobs they cause."""
    for _ in range(5):
        await hub.drain()
        if await app.work() == 0:
            return
