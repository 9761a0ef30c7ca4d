"""What the API keeps while the app runs: the git runner, the signing key, locks, running work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bot.engine.worker import sweep_sandbox_leftovers
from bot.settings import Settings
from bot.vcs.commit import Author
from bot.vcs.keys import SigningKey, key_path, load_or_create_key
from bot.vcs.safegit import SafeGit
from bot.web.keys import SETTINGS


@dataclass
class ApiState:
    """The API's app-wide objects; one per application."""

    git: SafeGit
    settings: Settings
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _key: SigningKey | None = None

    @property
    def author(self) -> Author:
        """Return the identity of the app's commits."""
        return Author(self.settings.commit_author_name, self.settings.commit_author_email)

    def signing_key(self) -> SigningKey:
        """Return the app's signing key, made on first use."""
        if self._key is None:
            self._key = load_or_create_key(key_path(self.settings))
        return self._key

    def lock_for(self, codebase: Path) -> asyncio.Lock:
        """Return the lock that serialises changes to one codebase in this process."""
        return self.locks.setdefault(str(codebase), asyncio.Lock())

    def start(self, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run work in the background, kept until it ends (cancelled when the app stops)."""
        async def run() -> None:
            await work()

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


API_STATE = web.AppKey("api_state", ApiState)


async def api_state_context(app: web.Application) -> AsyncIterator[None]:
    """Open the API's state with the app; cancel running analyses and close git on shutdown."""
    git = SafeGit.create()
    state = ApiState(git, app[SETTINGS])
    app[API_STATE] = state
    if app[SETTINGS].api_token:
        # The API runs sandboxes in this process: what one that was killed left goes (in the
        # background: an engine that does not answer must not hold the server's start).
        async def sweep() -> None:
            await asyncio.to_thread(sweep_sandbox_leftovers, app[SETTINGS])

        state.start(sweep)
    try:
        yield
    finally:
        for task in list(state.tasks):
            task.cancel()
        for task in list(state.tasks):
            with contextlib.suppress(BaseException):
                await task
        git.close()
