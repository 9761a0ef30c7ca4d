"""The kinds of job the worker runs, and the handler for each."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.worker import JobHandler
from bot.github.dispatch import GITHUB_EVENT_JOB, build_github_event_job
from bot.settings import Settings


def build_job_handlers(settings: Settings, engine: AsyncEngine) -> Mapping[str, JobHandler]:
    """Return the handler of every job kind this process can run with its settings."""
    handlers: dict[str, JobHandler] = {}
    handlers[GITHUB_EVENT_JOB] = build_github_event_job(settings, engine)
    return handlers
