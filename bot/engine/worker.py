"""The job runner: claims jobs under a lease, keeps the lease alive, records the outcome."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import traceback
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import docker
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.errors import PermanentJobError
from bot.logs import log_context
from bot.settings import Settings
from bot.store.queue import ClaimedJob, JobQueue

log = logging.getLogger(__name__)

DB_RETRY_CAP_SECONDS = 30.0
# Longer than any sandbox session of one job may live.
LEFTOVER_AGE_SECONDS = 6 * 3600.0

JobHandler = Callable[[ClaimedJob], Awaitable[Mapping[str, Any] | None]]


class LeaseLostError(Exception):
    """Another worker took the job over; this one must stop working on it."""


class Worker:
    """Runs jobs of the kinds it has handlers for, one at a time."""

    def __init__(self, queue: JobQueue, handlers: Mapping[str, JobHandler], *,
                 worker_id: str, lease_seconds: float = 60.0, poll_seconds: float = 0.5,
                 grace_seconds: float = 30.0) -> None:
        self._queue = queue
        self._handlers = dict(handlers)
        self.worker_id = worker_id
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._grace = grace_seconds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Take no new job; the running one may finish within the grace period."""
        self._stopping.set()

    async def run(self, *, once: bool = False) -> int:
        """Claim and run jobs until stopped (or, with `once`, until the queue is empty)."""
        done = 0
        failures = 0
        while not self._stopping.is_set():
            try:
                job = await self._queue.claim(self.worker_id, now=utcnow(), lease=self._lease,
                                              kinds=tuple(self._handlers))
                failures = 0
            except (SQLAlchemyError, OSError) as exc:
                # The database is away: wait and try again rather than die.
                failures += 1
                log.warning("cannot claim a job (%s); retrying", type(exc).__name__)
                await self._sleep(min(DB_RETRY_CAP_SECONDS, self._poll * 2 ** failures))
                continue
            if job is None:
                if once:
                    break
                await self._sleep(self._poll)
                continue
            await self.run_job(job)
            done += 1
        return done

    async def run_job(self, job: ClaimedJob) -> None:
        """Run one claimed job with a heartbeat, and record success or failure."""
        # Every line logged while the job runs carries its id and its delivery's.
        with log_context(job_id=job.id, delivery_id=job.payload.get("delivery_id")):
            log.info("job %s (%s) started, attempt %d", job.id, job.kind, job.attempts)
            await self._run_job(job)

    async def _run_job(self, job: ClaimedJob) -> None:
        task = asyncio.ensure_future(self._handlers[job.kind](job))
        heartbeat = asyncio.ensure_future(self._keep_lease(job, task))
        stop_wait = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # Shutting down: give the job its grace period, then hand it back.
                await asyncio.wait({task}, timeout=self._grace)
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    await self._queue.release(job, now=utcnow())
                    log.warning("released job %s on shutdown", job.id,
                                extra={"job_id": job.id})
                    return
            await self._record(job, task)
        finally:
            heartbeat.cancel()
            stop_wait.cancel()
            await asyncio.gather(heartbeat, stop_wait, return_exceptions=True)

    async def _record(self, job: ClaimedJob, task: asyncio.Future[Any]) -> None:
        # The one catch-all of the job runner: any failure is recorded with the job id.
        if task.cancelled():
            log.warning("job %s lost its lease and was stopped", job.id, extra={"job_id": job.id})
            return
        error = task.exception()
        if error is None:
            if not await self._queue.complete(job, now=utcnow(), result=task.result()):
                log.warning("job %s finished after its lease was lost", job.id,
                            extra={"job_id": job.id})
            return
        text = "".join(traceback.format_exception(error))
        status = await self._queue.fail(job, text, now=utcnow(),
                                        permanent=isinstance(error, PermanentJobError))
        log.error("job %s (%s) failed, now %s: %s", job.id, job.kind, status.value, error,
                  extra={"job_id": job.id})

    async def _keep_lease(self, job: ClaimedJob, task: asyncio.Future[Any]) -> None:
        interval = self._lease.total_seconds() / 3
        while not task.done():
            await asyncio.sleep(interval)
            if not await self._queue.heartbeat(job, now=utcnow(), lease=self._lease):
                task.cancel()
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


def default_worker_id() -> str:
    """Name a worker by host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def install_signal_handlers(worker: Worker) -> None:
    """Stop the worker gracefully on SIGTERM and SIGINT."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)


def sweep_sandbox_leftovers(settings: Settings) -> int:
    """Remove sandbox containers that a crashed process left on each engine; return how many.

    Those of a process of this machine that has ended go at once; others only when older than
    any sandbox run may last, so the live runs of other machines sharing an engine are safe.
    """
    from bot.errors import SandboxError
    from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker
    from bot.sandbox.runner import remove_leftovers, remove_orphans

    removed = 0
    for url in settings.docker_hosts or (DEFAULT_DOCKER_HOST,):
        try:
            client = open_docker(url, timeout=10)
            try:
                removed += remove_orphans(client)
                removed += remove_leftovers(client, older_than=LEFTOVER_AGE_SECONDS)
            finally:
                client.close()
        except (SandboxError, docker.errors.DockerException) as exc:
            # An engine that is down now is swept the next time a worker starts.
            log.warning("could not sweep sandbox leftovers on %s: %s", url, type(exc).__name__)
    if removed:
        log.info("removed %d sandbox leftovers", removed)
    return removed


def worker_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `selfmod worker`."""
    from bot.engine.jobs import build_job_handlers
    from bot.engine.record import SessionStore
    from bot.logs import configure_logging
    from bot.store.db import create_engine, create_sessionmaker
    from bot.store.migrate import ensure_current

    configure_logging(settings)

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            await ensure_current(engine)
            queue = JobQueue(engine)
            worker = Worker(queue, build_job_handlers(settings, engine),
                            worker_id=args.worker_id or default_worker_id(),
                            lease_seconds=settings.worker_lease_seconds,
                            poll_seconds=settings.worker_poll_seconds,
                            grace_seconds=settings.shutdown_grace_seconds)
            install_signal_handlers(worker)
            if settings.metrics_port is not None:
                from bot.metrics import serve_process_metrics

                serve_process_metrics(settings.metrics_port)
            await asyncio.to_thread(sweep_sandbox_leftovers, settings)
            await SessionStore(create_sessionmaker(engine)).reap_abandoned()
            log.info("worker %s started", worker.worker_id)
            try:
                await worker.run(once=args.once)
            finally:
                await queue.close()
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())
