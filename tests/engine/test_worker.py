"""The worker loop: leases, graceful stop, and an unreachable database."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import docker
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import utcnow
from bot.engine.worker import Worker, sweep_sandbox_leftovers
from bot.sandbox.runner import LABEL
from bot.settings import load_settings
from bot.store.db import create_engine
from bot.store.models import JobStatus
from bot.store.queue import ClaimedJob, JobQueue


async def test_stop_lets_the_running_job_finish(migrated_engine: AsyncEngine) -> None:
    """A stop during a job lets it finish within the grace period and records it done."""
    queue = JobQueue(migrated_engine)
    started = asyncio.Event()

    async def slow(job: ClaimedJob) -> Mapping[str, Any]:
        started.set()
        await asyncio.sleep(0.3)
        return {"ok": True}

    job_id = await queue.enqueue("slow", {}, now=utcnow())
    worker = Worker(queue, {"slow": slow}, worker_id="w", poll_seconds=0.01, grace_seconds=5)
    running = asyncio.create_task(worker.run())
    await started.wait()
    worker.stop()
    assert await asyncio.wait_for(running, 10) == 1
    job = await queue.get(job_id)
    assert job.status == JobStatus.DONE and job.result == {"ok": True}


async def test_stop_past_grace_releases_the_job(migrated_engine: AsyncEngine) -> None:
    """A job that outlives the grace period is handed back without spending an attempt."""
    queue = JobQueue(migrated_engine)
    started = asyncio.Event()

    async def endless(job: ClaimedJob) -> None:
        started.set()
        await asyncio.sleep(3600)

    job_id = await queue.enqueue("endless", {}, now=utcnow())
    worker = Worker(queue, {"endless": endless}, worker_id="w", poll_seconds=0.01,
                    grace_seconds=0.1)
    running = asyncio.create_task(worker.run())
    await started.wait()
    worker.stop()
    await asyncio.wait_for(running, 10)
    job = await queue.get(job_id)
    assert job.status == JobStatus.QUEUED and job.attempts == 0


async def test_lost_lease_stops_the_job(migrated_engine: AsyncEngine) -> None:
    """When another worker takes the job over, the heartbeat cancels this worker's run."""
    queue = JobQueue(migrated_engine)
    cancelled = asyncio.Event()

    async def long(job: ClaimedJob) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await queue.enqueue("long", {}, now=utcnow())
    worker = Worker(queue, {"long": long}, worker_id="w", lease_seconds=0.3, poll_seconds=0.01)
    job = await queue.claim("w", now=utcnow(), lease=timedelta(seconds=0.3))
    assert job is not None
    running = asyncio.create_task(worker.run_job(job))
    # Another worker whose clock is past the lease takes the job over.
    later = utcnow() + timedelta(seconds=10)
    assert await queue.claim("other", now=later, lease=timedelta(seconds=60)) is not None
    await asyncio.wait_for(running, 10)
    assert cancelled.is_set()


async def test_unreachable_database_does_not_kill_the_worker() -> None:
    """A worker whose database does not answer keeps retrying instead of dying."""
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    queue = JobQueue(engine)

    async def never(job: ClaimedJob) -> None:
        raise AssertionError("no job can be claimed")

    worker = Worker(queue, {"never": never}, worker_id="w", poll_seconds=0.01)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.5)
    assert not running.done()
    worker.stop()
    await asyncio.wait_for(running, 10)
    await queue.close()
    await engine.dispose()


def test_sweep_survives_an_engine_that_is_down(tmp_path: Path) -> None:
    """A Docker engine that does not answer is skipped at worker start, not fatal."""
    settings = load_settings({"SELFMOD_DOCKER_HOSTS": f"unix://{tmp_path / 'no.sock'}"})
    assert sweep_sandbox_leftovers(settings) == 0


@pytest.mark.docker
def test_sweep_leaves_live_sandbox_containers_alone() -> None:
    """A young sandbox container (another worker's live run) survives the start-up sweep."""
    client = docker.from_env()
    container = client.containers.create("selfmod-sandbox:latest", ["true"],
                                          labels={LABEL: "1"})
    try:
        sweep_sandbox_leftovers(load_settings({}))
        container.reload()
    finally:
        container.remove(force=True)
