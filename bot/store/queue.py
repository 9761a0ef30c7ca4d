"""The durable job queue: idempotent enqueue, leased claims, retries with backoff, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    String,
    Table,
    and_,
    any_,
    bindparam,
    exists,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import (
    build_insert_ignore,
    create_sync_sqlite_engine,
    is_sqlite,
)
from bot.store.models import PENDING_JOBS, Job, JobStatus
from bot.store.rawpg import RawStatements
from bot.store.statements import (
    Checkpointer,
    ConnectionStatements,
    SqliteBusyError,
    SqliteStatements,
    Statements,
)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 600.0
ERROR_LIMIT = 10_000
JOBS: Table = cast(Table, Job.__table__)
CLAIM_RACE_RETRIES = 5

T = TypeVar("T")


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
    """Jobs in the database, shared by every web and worker process.

    Every operation is one short transaction of Core statements built once. On SQLite the
    transaction runs on a plain sqlite3 connection in one dedicated thread: aiosqlite makes
    a dozen thread hops per transaction, which would cap the queue far below its goal.
    """

    def __init__(self, engine: AsyncEngine, *, backoff_base: float = BACKOFF_BASE_SECONDS) -> None:
        self._engine = engine
        self._backoff_base = backoff_base
        self._postgres = engine.dialect.name == "postgresql"
        url = engine.url.render_as_string(hide_password=False)
        self._sqlite: Engine | None = None
        self._sqlite_single: Engine | None = None
        self._raw: RawStatements | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._checkpointer: Checkpointer | None = None
        # SQLite hot-path writers: one that never waits (the loop's), one that does (a thread's).
        self._writers: tuple[SqliteStatements, SqliteStatements] | None = None
        self._write_lock = asyncio.Lock()
        if is_sqlite(url):
            self._sqlite = create_sync_sqlite_engine(url)
            self._sqlite_single = create_sync_sqlite_engine(url, autocommit=True)
            self._thread = ThreadPoolExecutor(1, "job-queue")
            path = engine.url.database
            if path and path != ":memory:":
                self._checkpointer = Checkpointer(path)
                self._writers = (SqliteStatements(path, self._checkpointer, wait=False),
                                 SqliteStatements(path, self._checkpointer))
        else:
            self._raw = RawStatements(engine)
        self._insert = self._build_insert()
        self._select_by_key = select(JOBS.c.id).where(JOBS.c.key == bindparam("key"))
        self._supersede = (
            update(JOBS)
            .where(JOBS.c.kind == bindparam("p_kind"), JOBS.c.group_key == bindparam("p_group"),
                   JOBS.c.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.SUPERSEDED.value,
                    finished_at=bindparam("p_now", type_=DateTime()))
        )
        self._claim_any = self._build_claim(with_kinds=False)
        self._claim_kinds = self._build_claim(with_kinds=True)
        self._updates = _build_owned_updates()

    async def close(self) -> None:
        """Release the queue's own connections and thread."""
        if self._raw is not None:
            await self._raw.close()
        if self._thread is not None:
            if self._writers is not None:
                at_once, waiting = self._writers
                async with self._write_lock:
                    at_once.close()
                    await asyncio.get_running_loop().run_in_executor(self._thread, waiting.close)
            if self._checkpointer is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.stop)
            for engine in (self._sqlite, self._sqlite_single):
                if engine is not None:
                    await asyncio.get_running_loop().run_in_executor(self._thread, engine.dispose)
            self._thread.shutdown(wait=False)

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` in one transaction on the queue's own connections.

        Callers that write their own rows with a job (a webhook delivery) do both here, in
        one thread hop on SQLite, using `enqueue_in` inside `work`.
        """
        if self._thread is not None:
            return await asyncio.get_running_loop().run_in_executor(
                self._thread, self._run_sqlite, work)
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    async def write(self, work: Callable[[Statements], T]) -> T:
        """Run `work(statements)` in one write transaction; for hot paths (webhook intake).

        On a SQLite file it runs on a plain sqlite3 connection, without SQLAlchemy's
        per-statement cost, and in the event loop itself when no other connection is writing:
        a thread hop there would have the writer wait for the interpreter lock once per
        statement while the loop serves requests (up to 5 ms each time). When another writer
        holds the lock, it waits for it in the queue's thread instead. Elsewhere it is an
        ordinary `transaction`.
        """
        if self._writers is not None:
            at_once, waiting = self._writers
            async with self._write_lock:
                try:
                    return at_once.transaction(work)
                except SqliteBusyError:
                    return await asyncio.get_running_loop().run_in_executor(
                        self._thread, waiting.transaction, work)
        return await self.transaction(lambda connection: work(ConnectionStatements(connection)))

    def _run_sqlite(self, work: Callable[[Connection], T]) -> T:
        assert self._sqlite is not None
        with self._sqlite.begin() as connection:
            return work(connection)

    async def _fetchrow(self, statement: Any,
                        params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Run one atomic statement in autocommit mode and return its first row.

        Autocommit saves the BEGIN and COMMIT round trips, a third of a job's cost; a single
        UPDATE or INSERT is atomic by itself.
        """
        if self._raw is not None:
            return await self._raw.fetchrow(statement, params)
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._sqlite_fetchrow, statement, params)

    async def _execute(self, statement: Any, params: Mapping[str, Any]) -> int:
        """Run one atomic statement in autocommit mode and return the rows it changed."""
        if self._raw is not None:
            return await self._raw.execute(statement, params)
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._sqlite_execute, statement, params)

    def _sqlite_fetchrow(self, statement: Any,
                         params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        assert self._sqlite_single is not None
        with self._sqlite_single.connect() as connection:
            row = connection.execute(statement, params).mappings().first()
            return dict(row) if row is not None else None

    def _sqlite_execute(self, statement: Any, params: Mapping[str, Any]) -> int:
        assert self._sqlite_single is not None
        with self._sqlite_single.connect() as connection:
            return int(connection.execute(statement, params).rowcount)

    async def enqueue(self, kind: str, payload: Mapping[str, Any], *, now: datetime,
                      key: str | None = None, group_key: str | None = None,
                      max_attempts: int = 3, delay: timedelta = timedelta(0),
                      supersede: bool = False) -> int:
        """Add a job and return its id; a job with the same key is not added twice.

        With `supersede`, queued (not running) jobs of the same kind and group are marked
        superseded, so only the newest waits.
        """

        if supersede:
            return await self.transaction(
                lambda connection: self.enqueue_in(
                    connection, kind, payload, now=now, key=key, group_key=group_key,
                    max_attempts=max_attempts, delay=delay, supersede=supersede))
        values = self._job_values(kind, payload, now=now, key=key, group_key=group_key,
                                  max_attempts=max_attempts, delay=delay)
        row = await self._fetchrow(self._insert, values)
        if row is None:
            row = await self._fetchrow(self._select_by_key, {"key": key})
        assert row is not None
        return int(row["id"])

    @staticmethod
    def _job_values(kind: str, payload: Mapping[str, Any], *, now: datetime, key: str | None,
                    group_key: str | None, max_attempts: int,
                    delay: timedelta) -> dict[str, Any]:
        return {"kind": kind, "key": key, "group_key": group_key, "payload": dict(payload),
                "status": JobStatus.QUEUED.value, "attempts": 0,
                "max_attempts": max_attempts, "run_after": now + delay, "created_at": now}

    def enqueue_in(self, connection: Connection, kind: str, payload: Mapping[str, Any], *,
                   now: datetime, key: str | None = None, group_key: str | None = None,
                   max_attempts: int = 3, delay: timedelta = timedelta(0),
                   supersede: bool = False) -> int:
        """Add a job inside the caller's transaction (see `transaction`); return its id."""
        return self.enqueue_with(ConnectionStatements(connection), kind, payload, now=now,
                                 key=key, group_key=group_key, max_attempts=max_attempts,
                                 delay=delay, supersede=supersede)

    def enqueue_with(self, statements: Statements, kind: str, payload: Mapping[str, Any], *,
                     now: datetime, key: str | None = None, group_key: str | None = None,
                     max_attempts: int = 3, delay: timedelta = timedelta(0),
                     supersede: bool = False) -> int:
        """Add a job inside an open transaction (see `write`); return its id."""
        if supersede and group_key is not None:
            statements.scalar(self._supersede, {"p_kind": kind, "p_group": group_key,
                                                "p_now": now})
        values = self._job_values(kind, payload, now=now, key=key, group_key=group_key,
                                  max_attempts=max_attempts, delay=delay)
        job_id = statements.scalar(self._insert, values)
        if job_id is None:
            job_id = statements.scalar(self._select_by_key, {"key": key})
        return int(job_id)

    def _build_insert(self) -> Any:
        # NULL keys never conflict, so one statement serves jobs with and without a key.
        return build_insert_ignore(JOBS, ("kind", "key", "group_key", "payload", "status",
                                          "attempts", "max_attempts", "run_after",
                                          "created_at"), conflict="key", returning="id")

    def _build_claim(self, *, with_kinds: bool) -> Any:
        now = bindparam("now", type_=DateTime())
        claimable = or_(
            and_(JOBS.c.status == JobStatus.QUEUED.value, JOBS.c.run_after <= now),
            and_(JOBS.c.status == JobStatus.RUNNING.value, JOBS.c.lease_expires_at < now),
        )
        # A group (one repository) runs one job at a time; a running job whose lease expired
        # still holds its group until it is taken over.
        other = JOBS.alias("other")
        group_busy = exists().where(
            other.c.group_key == JOBS.c.group_key, other.c.id != JOBS.c.id,
            other.c.status == JobStatus.RUNNING.value,
        )
        # The literal status filter lets both databases use the partial pending index.
        candidate = select(JOBS.c.id).where(text(PENDING_JOBS), claimable,
                                            or_(JOBS.c.group_key.is_(None), ~group_busy))
        if with_kinds and self._postgres:
            # An array parameter: the raw driver has no SQLAlchemy "expanding" IN lists.
            kinds = bindparam("kinds", type_=postgresql.ARRAY(String()))
            candidate = candidate.where(JOBS.c.kind == any_(kinds))
        elif with_kinds:
            candidate = candidate.where(JOBS.c.kind.in_(bindparam("kinds", expanding=True)))
        candidate = candidate.order_by(JOBS.c.run_after, JOBS.c.id).limit(1)
        if self._postgres:
            candidate = candidate.with_for_update(skip_locked=True, of=JOBS)
        return (
            update(JOBS)
            .where(JOBS.c.id == candidate.scalar_subquery())
            .values(status=JobStatus.RUNNING.value, lease_owner=bindparam("worker"),
                    lease_expires_at=bindparam("expires", type_=DateTime()),
                    attempts=JOBS.c.attempts + 1)
            .returning(JOBS.c.id, JOBS.c.kind, JOBS.c.payload, JOBS.c.attempts,
                       JOBS.c.max_attempts, JOBS.c.group_key)
        )

    async def claim(self, worker: str, *, now: datetime, lease: timedelta,
                    kinds: tuple[str, ...] | None = None) -> ClaimedJob | None:
        """Take the next due job under a lease, or None; an expired lease is taken over."""
        params: dict[str, Any] = {"now": now, "worker": worker, "expires": now + lease}
        statement = self._claim_any
        if kinds is not None:
            if not kinds:
                return None
            statement, params["kinds"] = self._claim_kinds, list(kinds)

        row = None
        for _ in range(CLAIM_RACE_RETRIES):
            try:
                row = await self._fetchrow(statement, params)
                break
            except (IntegrityError, asyncpg.UniqueViolationError):
                # Two workers took jobs of one group at once; the unique index refused the
                # second. Its next look sees the group busy and takes another job.
                continue
        if row is None:
            return None
        return ClaimedJob(id=row["id"], kind=row["kind"], payload=row["payload"] or {},
                          attempts=row["attempts"], max_attempts=row["max_attempts"],
                          lease_owner=worker, group_key=row["group_key"])

    async def heartbeat(self, job: ClaimedJob, *, now: datetime, lease: timedelta) -> bool:
        """Extend the lease; False means the lease was lost and the work must stop."""
        return await self._update_owned("heartbeat", job, p_expires=now + lease)

    async def complete(self, job: ClaimedJob, *, now: datetime,
                       result: Mapping[str, Any] | None = None) -> bool:
        """Mark the job done; False when the lease had been lost to another worker."""
        return await self._update_owned("complete", job, p_now=now,
                                        p_result=dict(result) if result is not None else None)

    async def fail(self, job: ClaimedJob, error: str, *, now: datetime,
                   permanent: bool = False) -> JobStatus:
        """Record a failure: retry later with backoff, or dead-letter after the last attempt.

        A `permanent` failure (one that no retry can mend) is dead-lettered at once.
        """
        error = error[-ERROR_LIMIT:]
        if permanent or job.attempts >= job.max_attempts:
            await self._update_owned("dead", job, p_error=error, p_now=now)
            return JobStatus.DEAD
        retry_at = now + build_backoff(job.attempts, base=self._backoff_base)
        await self._update_owned("retry", job, p_error=error, p_run_after=retry_at)
        return JobStatus.QUEUED

    async def release(self, job: ClaimedJob, *, now: datetime) -> bool:
        """Give a job back untried (a worker shutting down), without spending an attempt."""
        return await self._update_owned("release", job, p_now=now)

    async def get(self, job_id: int) -> Any:
        """Return a job's row (attribute access by column name), or None."""
        return await self.transaction(
            lambda connection: connection.execute(
                select(JOBS).where(JOBS.c.id == job_id)).first())

    async def _update_owned(self, name: str, job: ClaimedJob, **params: Any) -> bool:
        params.update(p_id=job.id, p_owner=job.lease_owner)
        return bool(await self._execute(self._updates[name], params))


def _build_owned_updates() -> dict[str, Any]:
    """Build the UPDATEs a lease holder makes, each only while it still holds the lease."""
    owned = update(JOBS).where(JOBS.c.id == bindparam("p_id"),
                               JOBS.c.lease_owner == bindparam("p_owner"),
                               JOBS.c.status == JobStatus.RUNNING.value)
    when = DateTime()
    return {
        "heartbeat": owned.values(lease_expires_at=bindparam("p_expires", type_=when)),
        "complete": owned.values(status=JobStatus.DONE.value, lease_expires_at=None,
                                 finished_at=bindparam("p_now", type_=when),
                                 result=bindparam("p_result", type_=JOBS.c.result.type)),
        "dead": owned.values(status=JobStatus.DEAD.value, lease_expires_at=None,
                             last_error=bindparam("p_error"),
                             finished_at=bindparam("p_now", type_=when)),
        "retry": owned.values(status=JobStatus.QUEUED.value, lease_owner=None,
                              lease_expires_at=None, last_error=bindparam("p_error"),
                              run_after=bindparam("p_run_after", type_=when)),
        "release": owned.values(status=JobStatus.QUEUED.value, lease_owner=None,
                                lease_expires_at=None, attempts=JOBS.c.attempts - 1,
                                run_after=bindparam("p_now", type_=when)),
    }
