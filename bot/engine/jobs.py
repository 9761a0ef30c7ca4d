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
    if settings.github is not None:
        from bot.github.analyze import build_analyze_job
        from bot.github.context import ANALYZE_JOB, ROLLBACK_JOB
        from bot.github.rollback import build_rollback_job
        from bot.vcs.keys import key_path, load_or_create_key
        from bot.vcs.safegit import SafeGit
        from bot.vcs.workspace import Workspaces

        # One workspace folder and one signing key for both kinds; both need GitHub.
        workspaces = Workspaces(settings.data_dir / "workspaces", SafeGit.create())
        key = load_or_create_key(key_path(settings))
        handlers[ANALYZE_JOB] = build_analyze_job(settings, engine, workspaces=workspaces,
                                                  key=key)
        handlers[ROLLBACK_JOB] = build_rollback_job(settings, engine, workspaces=workspaces,
                                                    key=key)
        from bot.github.dashboard import DASHBOARD_JOB, build_dashboard_job

        handlers[DASHBOARD_JOB] = build_dashboard_job(settings, engine, key=key)
    return handlers
