"""GET /metrics: this process's counters plus what the database says at scrape time."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import utcnow
from bot.metrics import CONTENT_TYPE, DatabaseFigures, QueueFigures, process_metrics
from bot.store.models import CodeModification, Job, JobStatus, ModificationSession
from bot.web.keys import ENGINE

routes = web.RouteTableDef()

_WAITING = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Answer Prometheus' scrape; database gauges are left out while the database is away."""
    registry = process_metrics()
    try:
        registry.set_database_figures(await read_database_figures(request.app[ENGINE],
                                                                  now=utcnow()))
    except (SQLAlchemyError, OSError):
        # The process counters are still worth a scrape; /readyz reports the database.
        registry.set_database_figures(DatabaseFigures())
    body = registry.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def read_database_figures(engine: AsyncEngine, *, now: datetime) -> DatabaseFigures:
    """Read queue depth, oldest waiting job, sessions and suggestions by status."""
    jobs = Job.__table__
    async with engine.connect() as connection:
        depth_rows = await connection.execute(
            select(jobs.c.kind, jobs.c.status, func.count())
            .where(jobs.c.status.in_(_WAITING)).group_by(jobs.c.kind, jobs.c.status))
        oldest_rows = await connection.execute(
            select(jobs.c.kind, func.min(jobs.c.created_at))
            .where(jobs.c.status == JobStatus.QUEUED.value).group_by(jobs.c.kind))
        session_rows = await connection.execute(
            select(ModificationSession.status, func.count())
            .group_by(ModificationSession.status))
        suggestion_rows = await connection.execute(
            select(CodeModification.status, func.count()).group_by(CodeModification.status))
        queue = QueueFigures(
            depth={(str(kind), str(status)): int(n) for kind, status, n in depth_rows},
            oldest_age_seconds={str(kind): max(0.0, (now - oldest).total_seconds())
                                for kind, oldest in oldest_rows if oldest is not None})
        return DatabaseFigures(
            queue=queue,
            sessions={_value(status): int(n) for status, n in session_rows if status},
            suggestions={str(status): int(n) for status, n in suggestion_rows if status})


def _value(status: object) -> str:
    return str(getattr(status, "value", status))
