"""The durable job queue: idempotent enqueue, leased claims, retries with backoff, dead letters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, exists, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.store.db import create_sessionmaker
from bot.store.models import Job, JobStatus

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 600.0
ERROR_LIMIT = 10_000


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds under a lease."""

    id: int
    kind: str
    payload: Mapping[str, Any]
    attempts: int
    max_attempts: int
    lease_owner: str
    group_key: str | None


def build_backoff(attempts: int, *, base: float = BACKOFF_BASE_SECONDS,
                  cap: float = BACKOFF_MAX_SECONDS) -> timedelta:
    """Return the wait before retry number `attempts` + 1 (exponential, capped)."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


class JobQueue:
    """Jobs in the database, shared by every web and worker process."""

    def __init__(self, engine: AsyncEngine,
                 sessionmaker: async_sessionmaker[AsyncSession] | None = None, *,
                 backoff_base: float = BACKOFF_BASE_SECONDS) -> None:
        self._engine = engine
        self._backoff_base = backoff_base
        self._sessions = sessionmaker or create_sessionmaker(engine)
        self._postgres = engine.dialect.name == "postgresql"

    async def enqueue(self, kind: str, payload: Mapping[str, Any], *, now: datetime,
                      key: str | None = None, group_key: str | None = None,
                      max_attempts: int = 3, delay: timedelta = timedelta(0),
                      supersede: bool = False) -> int:
        """Add a job and return its id; a job with the same key is not added twice.

        With `supersede`, queued (not running) jobs of the same kind and group are marked
        superseded, so only the newest waits.
        """
        values = {
            "kind": kind, "key": key, "group_key": group_key, "payload": dict(payload),
            "status": JobStatus.QUEUED.value, "attempts": 0, "max_attempts": max_attempts,
            "run_after": now + delay, "created_at": now,
        }
        insert = postgresql.insert if self._postgres else sqlite.insert
        statement = insert(Job).values(**values)
        if key is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["key"])
        async with self._sessions.begin() as session:
            if supersede and group_key is not None:
                await session.execute(
                    update(Job)
                    .where(Job.kind == kind, Job.group_key == group_key,
                           Job.status == JobStatus.QUEUED.value)
                    .values(status=JobStatus.SUPERSEDED.value, finished_at=now)
                )
            result = await session.execute(statement.returning(Job.id))
            job_id = result.scalar_one_or_none()
            if job_id is None:
                job_id = (await session.execute(select(Job.id).where(Job.key == key))).scalar_one()
            return int(job_id)

    async def claim(self, worker: str, *, now: datetime, lease: timedelta,
                    kinds: tuple[str, ...] | None = None) -> ClaimedJob | None:
        """Take the next due job under a lease, or None; an expired lease is taken over."""
        claimable = or_(
            and_(Job.status == JobStatus.QUEUED.value, Job.run_after <= now),
            and_(Job.status == JobStatus.RUNNING.value, Job.lease_expires_at < now),
        )
        # A group (one repository) runs one job at a time.
        other = aliased(Job)
        group_busy = exists().where(
            other.group_key == Job.group_key, other.id != Job.id,
            other.status == JobStatus.RUNNING.value, other.lease_expires_at >= now,
        )
        candidate = select(Job.id).where(claimable, or_(Job.group_key.is_(None), ~group_busy))
        if kinds:
            candidate = candidate.where(Job.kind.in_(kinds))
        candidate = candidate.order_by(Job.run_after, Job.id).limit(1)
        if self._postgres:
            candidate = candidate.with_for_update(skip_locked=True, of=Job)
        statement = (
            update(Job)
            .where(Job.id == candidate.scalar_subquery())
            .values(status=JobStatus.RUNNING.value, lease_owner=worker,
                    lease_expires_at=now + lease, attempts=Job.attempts + 1)
            .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts,
                       Job.group_key)
        )
        async with self._sessions.begin() as session:
            if self._postgres:
                # Serialise claims that could start two jobs of one group at once.
                await session.execute(text("SELECT pg_advisory_xact_lock(727001)"))
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        return ClaimedJob(id=row.id, kind=row.kind, payload=row.payload or {},
                          attempts=row.attempts, max_attempts=row.max_attempts,
                          lease_owner=worker, group_key=row.group_key)

    async def heartbeat(self, job: ClaimedJob, *, now: datetime, lease: timedelta) -> bool:
        """Extend the lease; False means the lease was lost and the work must stop."""
        return await self._update_owned(job, lease_expires_at=now + lease)

    async def complete(self, job: ClaimedJob, *, now: datetime,
                       result: Mapping[str, Any] | None = None) -> bool:
        """Mark the job done; False when the lease had been lost to another worker."""
        return await self._update_owned(
            job, status=JobStatus.DONE.value, finished_at=now, lease_expires_at=None,
            result=dict(result) if result is not None else None,
        )

    async def fail(self, job: ClaimedJob, error: str, *, now: datetime) -> JobStatus:
        """Record a failure: retry later with backoff, or dead-letter after the last attempt."""
        error = error[-ERROR_LIMIT:]
        if job.attempts >= job.max_attempts:
            await self._update_owned(job, status=JobStatus.DEAD.value, last_error=error,
                                     finished_at=now, lease_expires_at=None)
            return JobStatus.DEAD
        await self._update_owned(job, status=JobStatus.QUEUED.value, last_error=error,
                                 run_after=now + build_backoff(job.attempts,
                                                               base=self._backoff_base),
                                 lease_owner=None, lease_expires_at=None)
        return JobStatus.QUEUED

    async def release(self, job: ClaimedJob, *, now: datetime) -> bool:
        """Give a job back untried (a worker shutting down), without spending an attempt."""
        return await self._update_owned(job, status=JobStatus.QUEUED.value, run_after=now,
                                        lease_owner=None, lease_expires_at=None,
                                        attempts=Job.attempts - 1)

    async def get(self, job_id: int) -> Job | None:
        """Return a job row by id."""
        async with self._sessions() as session:
            return await session.get(Job, job_id)

    async def _update_owned(self, job: ClaimedJob, **values: Any) -> bool:
        statement = (
            update(Job)
            .where(Job.id == job.id, Job.lease_owner == job.lease_owner,
                   Job.status == JobStatus.RUNNING.value)
            .values(**values)
        )
        async with self._sessions.begin() as session:
            result = await session.execute(statement)
        return bool(cast(CursorResult[Any], result).rowcount)
