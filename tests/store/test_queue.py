"""The durable job queue on SQLite and PostgreSQL, with real worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import utcnow
from bot.engine.worker import Worker
from bot.store.models import JobStatus
from bot.store.queue import ClaimedJob, JobQueue, build_backoff

WORKER = Path(__file__).with_name("queue_worker.py")
LEASE = timedelta(seconds=30)


def _start_worker(url: str, log: Path, worker_id: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WORKER), url, str(log), "--id", worker_id,
                             *extra])


def _lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


class TestEnqueue:
    async def test_same_key_is_enqueued_once(self, migrated_engine: AsyncEngine) -> None:
        """Enqueueing twice with one key returns the first job's id and adds nothing."""
        queue = JobQueue(migrated_engine)
        first = await queue.enqueue("record", {"n": 1}, now=utcnow(), key="delivery-1")
        second = await queue.enqueue("record", {"n": 2}, now=utcnow(), key="delivery-1")
        assert first == second
        job = await queue.get(first)
        assert job is not None and job.payload == {"n": 1}

    async def test_supersede_replaces_a_queued_job_of_the_group(
            self, migrated_engine: AsyncEngine) -> None:
        """A superseding job marks the group's still-queued job superseded."""
        queue = JobQueue(migrated_engine)
        old = await queue.enqueue("analyze", {}, now=utcnow(), group_key="repo:1")
        new = await queue.enqueue("analyze", {}, now=utcnow(), group_key="repo:1",
                                  supersede=True)
        assert (await queue.get(old)).status == JobStatus.SUPERSEDED  # type: ignore[union-attr]
        claimed = await queue.claim("w", now=utcnow(), lease=LEASE)
        assert claimed is not None and claimed.id == new


class TestClaim:
    async def test_empty_queue_gives_nothing(self, migrated_engine: AsyncEngine) -> None:
        """Claiming from an empty queue returns None."""
        assert await JobQueue(migrated_engine).claim("w", now=utcnow(), lease=LEASE) is None

    async def test_delayed_job_waits_until_due(self, migrated_engine: AsyncEngine) -> None:
        """A job delayed into the future is not claimed before its time."""
        queue = JobQueue(migrated_engine)
        now = utcnow()
        await queue.enqueue("record", {}, now=now, delay=timedelta(seconds=60))
        assert await queue.claim("w", now=now, lease=LEASE) is None
        assert await queue.claim("w", now=now + timedelta(seconds=61), lease=LEASE) is not None

    async def test_live_lease_is_not_claimed_twice(self, migrated_engine: AsyncEngine) -> None:
        """A job under a live lease is not handed to a second worker."""
        queue = JobQueue(migrated_engine)
        await queue.enqueue("record", {}, now=utcnow())
        assert await queue.claim("a", now=utcnow(), lease=LEASE) is not None
        assert await queue.claim("b", now=utcnow(), lease=LEASE) is None

    async def test_expired_lease_is_taken_over(self, migrated_engine: AsyncEngine) -> None:
        """After its lease expires a job goes to another worker, and the first loses it."""
        queue = JobQueue(migrated_engine)
        await queue.enqueue("record", {}, now=utcnow())
        now = utcnow()
        first = await queue.claim("a", now=now, lease=timedelta(seconds=1))
        later = now + timedelta(seconds=2)
        second = await queue.claim("b", now=later, lease=LEASE)
        assert first is not None and second is not None and second.id == first.id
        assert second.attempts == 2
        assert not await queue.complete(first, now=later)
        assert not await queue.heartbeat(first, now=later, lease=LEASE)
        assert await queue.complete(second, now=later)

    async def test_one_job_per_group_runs_at_once(self, migrated_engine: AsyncEngine) -> None:
        """Two jobs of one group never run at the same time; other groups are not held up."""
        queue = JobQueue(migrated_engine)
        now = utcnow()
        for group in ("repo:1", "repo:1", "repo:2"):
            await queue.enqueue("analyze", {}, now=now, group_key=group)
        first = await queue.claim("a", now=now, lease=LEASE)
        second = await queue.claim("b", now=now, lease=LEASE)
        assert first is not None and second is not None
        assert {first.group_key, second.group_key} == {"repo:1", "repo:2"}
        assert await queue.claim("c", now=now, lease=LEASE) is None
        held = first if first.group_key == "repo:1" else second
        await queue.complete(held, now=now)
        third = await queue.claim("c", now=now, lease=LEASE)
        assert third is not None and third.group_key == "repo:1"


class TestFailure:
    async def test_failure_retries_with_backoff(self, migrated_engine: AsyncEngine) -> None:
        """A failed job goes back to the queue, due after the backoff."""
        queue = JobQueue(migrated_engine)
        job_id = await queue.enqueue("record", {}, now=utcnow())
        now = utcnow()
        job = await queue.claim("w", now=now, lease=LEASE)
        assert job is not None
        assert await queue.fail(job, "boom", now=now) == JobStatus.QUEUED
        assert await queue.claim("w", now=now, lease=LEASE) is None
        retry = await queue.claim("w", now=now + build_backoff(1), lease=LEASE)
        assert retry is not None and retry.id == job_id and retry.attempts == 2

    async def test_third_failure_is_dead_lettered_with_its_error(
            self, migrated_engine: AsyncEngine) -> None:
        """A job that fails three times lands in dead-letter with its last error kept."""
        queue = JobQueue(migrated_engine, backoff_base=0.001)
        calls = []

        async def explode(job: ClaimedJob) -> None:
            calls.append(job.attempts)
            raise ValueError(f"attempt {job.attempts} failed")

        job_id = await queue.enqueue("explode", {}, now=utcnow(), max_attempts=3)
        worker = Worker(queue, {"explode": explode}, worker_id="w", poll_seconds=0.01)
        for _ in range(50):
            await worker.run(once=True)
            job = await queue.get(job_id)
            assert job is not None
            if job.status == JobStatus.DEAD:
                break
            await asyncio.sleep(0.01)
        assert calls == [1, 2, 3]
        assert job.status == JobStatus.DEAD
        assert "ValueError: attempt 3 failed" in (job.last_error or "")

    async def test_release_gives_the_attempt_back(self, migrated_engine: AsyncEngine) -> None:
        """A job released on shutdown is claimable at once without spending an attempt."""
        queue = JobQueue(migrated_engine)
        await queue.enqueue("record", {}, now=utcnow())
        job = await queue.claim("a", now=utcnow(), lease=LEASE)
        assert job is not None and await queue.release(job, now=utcnow())
        again = await queue.claim("b", now=utcnow(), lease=LEASE)
        assert again is not None and again.attempts == 1


class TestWorkerProcesses:
    @pytest.mark.slow
    async def test_four_workers_drain_500_jobs_each_once(
            self, migrated_engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
        """Four concurrent worker processes run each of 500 jobs exactly once."""
        queue = JobQueue(migrated_engine)
        ids = [await queue.enqueue("record", {"i": i}, now=utcnow()) for i in range(500)]
        log = tmp_path / "ran.log"
        workers = [_start_worker(database_url, log, f"w{n}", "--once") for n in range(4)]
        for process in workers:
            assert await asyncio.to_thread(process.wait, 120) == 0
        ran = Counter(int(fields[1]) for fields in _lines(log) if fields[0] == "ran")
        assert sorted(ran) == sorted(ids)
        assert set(ran.values()) == {1}
        assert len({fields[2] for fields in _lines(log)}) > 1, "only one worker did any work"
        for job_id in ids[:: 50]:
            job = await queue.get(job_id)
            assert job is not None and job.status == JobStatus.DONE

    @pytest.mark.slow
    async def test_killed_worker_job_runs_again_after_lease(
            self, migrated_engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
        """A worker killed with SIGKILL mid-job leaves the job to another after the lease."""
        queue = JobQueue(migrated_engine)
        job_id = await queue.enqueue("slow", {"seconds": 0.5}, now=utcnow())
        log = tmp_path / "ran.log"
        doomed = _start_worker(database_url, log, "doomed", "--lease", "2")
        deadline = time.monotonic() + 30
        while not any(f[0] == "start" for f in _lines(log)):
            assert time.monotonic() < deadline, "the first worker never started the job"
            await asyncio.sleep(0.02)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
        started_again_at = time.monotonic()
        rescuer = _start_worker(database_url, log, "rescuer", "--max-jobs", "1")
        assert await asyncio.to_thread(rescuer.wait, 60) == 0
        assert time.monotonic() - started_again_at >= 1.0, "taken over before the lease expired"
        events = _lines(log)
        assert ["start", str(job_id), "doomed"] in events
        assert ["done", str(job_id), "rescuer"] in events
        assert ["done", str(job_id), "doomed"] not in events
        job = await queue.get(job_id)
        assert job is not None and job.status == JobStatus.DONE and job.attempts == 2
