"""The `github_event` job: run a recorded delivery through the router, in the worker."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import gidgethub
from gidgethub import sansio
from gidgethub.abc import GitHubAPI
from gidgethub.routing import Router
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.errors import GitHubError, PermanentJobError
from bot.github.auth import GitHubApp
from bot.github.context import EventContext
from bot.github.permissions import PermissionCache
from bot.github.router import bot_login, build_router
from bot.settings import Settings
from bot.store.db import create_sessionmaker
from bot.store.models import WebhookDelivery
from bot.store.queue import ClaimedJob, JobQueue
from bot.store.ratelimit import SharedRateLimit

log = logging.getLogger(__name__)

GITHUB_EVENT_JOB = "github_event"


def build_event_payload(event: str, delivery_id: str, *, body: str) -> dict[str, Any]:
    """Return the job payload that carries one delivery to the worker.

    The delivery's JSON text travels as it came: storing it as a string costs far less on
    the webhook path than serialising the parsed event again.
    """
    return {"event": event, "delivery_id": delivery_id, "body": body}


def read_event_data(payload: Mapping[str, Any]) -> Any:
    """Return the delivery's parsed JSON from a job payload (`body` text, or older `data`)."""
    if "body" in payload:
        try:
            return json.loads(payload["body"])
        except (TypeError, ValueError) as exc:
            raise PermanentJobError(f"the delivery's body is not JSON: {exc}") from None
    if "data" in payload:
        return payload["data"]
    raise PermanentJobError("the github_event payload has neither body nor data")


def is_permanent(error: gidgethub.HTTPException) -> bool:
    """Tell whether GitHub's refusal will not change by asking again (4xx but rate limits)."""
    status = int(error.status_code)
    return 400 <= status < 500 and not isinstance(error, gidgethub.RateLimitExceeded) \
        and status != 429


def describe_failure(error: gidgethub.HTTPException) -> str:
    """Return one line naming GitHub's answer."""
    return f"GitHub answered {int(error.status_code)}: {error}"[:500]


class GitHubEventJob:
    """Runs `github_event` jobs; holds the token and permission caches across jobs."""

    def __init__(self, app: GitHubApp | None, sessions: async_sessionmaker[AsyncSession],
                 queue: JobQueue, router: Router, *, bot_login: str,
                 permissions: PermissionCache | None = None) -> None:
        self._app = app
        self._sessions = sessions
        self._queue = queue
        self._router = router
        self._bot_login = bot_login
        self._permissions = permissions or PermissionCache()

    async def __call__(self, job: ClaimedJob) -> Mapping[str, Any]:
        """Dispatch the delivery; a permanent GitHub refusal is dead-lettered, not retried."""
        payload = job.payload
        delivery_id = str(payload["delivery_id"])
        event = sansio.Event(read_event_data(payload), event=str(payload["event"]),
                             delivery_id=delivery_id)
        installation_id = (event.data.get("installation") or {}).get("id") \
            if isinstance(event.data, dict) else None
        async with aiohttp.ClientSession() as session:

            async def github() -> GitHubAPI:
                if self._app is None or installation_id is None:
                    # Asking again will not give the delivery an installation.
                    raise PermanentJobError(f"delivery {delivery_id} needs GitHub but has no "
                                            "installation or the app has no GitHub settings")
                return await self._app.installation_api(session, int(installation_id))

            ctx = EventContext(delivery_id=delivery_id, now=utcnow(), sessions=self._sessions,
                               queue=self._queue, bot_login=self._bot_login,
                               permissions=self._permissions, github=github)
            try:
                await self._router.dispatch(event, ctx=ctx)
            except gidgethub.HTTPException as exc:
                if not is_permanent(exc):
                    await self._record(delivery_id, "retrying")
                    raise GitHubError(describe_failure(exc)) from exc
                log.error("delivery %s failed for good: %s", delivery_id, describe_failure(exc),
                          extra={"delivery_id": delivery_id, "job_id": job.id})
                await self._record(delivery_id, "failed")
                raise PermanentJobError(describe_failure(exc)) from exc
            except PermanentJobError:
                await self._record(delivery_id, "failed")
                raise
        await self._record(delivery_id, "handled")
        return {"outcome": "handled"}

    async def _record(self, delivery_id: str, outcome: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(WebhookDelivery)
                                  .where(WebhookDelivery.delivery_id == delivery_id)
                                  .values(outcome=outcome))


def build_github_event_job(settings: Settings, engine: AsyncEngine) -> GitHubEventJob:
    """Return the production `github_event` handler for these settings."""
    app = (GitHubApp(settings.github, limits=SharedRateLimit(engine))
           if settings.github is not None else None)
    return GitHubEventJob(app, create_sessionmaker(engine), JobQueue(engine), build_router(),
                          bot_login=bot_login(settings.github_app_slug))
