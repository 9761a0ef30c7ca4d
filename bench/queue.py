"""Job-queue throughput: enqueue + claim + complete with 4 worker processes.

Prints jobs per second on SQLite (a file, WAL) and on a throwaway PostgreSQL cluster.
Run: .venv/bin/python bench/queue.py [--jobs 2000] [--workers 4]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# standard library's `queue` module, which aiosqlite imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import multiprocessing
import tempfile
import time

from sqlalchemy import func, select

from bot.clock import utcnow
from bot.engine.worker import Worker
from bot.store.db import create_engine
from bot.store.migrate import upgrade
from bot.store.models import Job, JobStatus
from bot.store.pgcluster import PostgresCluster
from bot.store.queue import ClaimedJob, JobQueue


async def _noop(job: ClaimedJob) -> None:
    return None


def _work(url: str, worker_id: str, start: multiprocessing.synchronize.Event) -> None:
    async def run() -> None:
        engine = create_engine(url)
        worker = Worker(JobQueue(engine), {"noop": _noop}, worker_id=worker_id,
                        poll_seconds=0.005)
        start.wait()
        idle_rounds = 0
        # Keep polling briefly after an empty queue: the producer may still be enqueueing.
        while idle_rounds < 40:
            idle_rounds = 0 if await worker.run(once=True) else idle_rounds + 1
            await asyncio.sleep(0.005)
        await engine.dispose()

    asyncio.run(run())


async def _produce(url: str, jobs: int) -> None:
    engine = create_engine(url)
    queue = JobQueue(engine)
    for n in range(jobs):
        await queue.enqueue("noop", {"n": n}, now=utcnow(), key=f"job-{n}")
    await engine.dispose()


async def _count_done(url: str) -> int:
    engine = create_engine(url)
    async with engine.connect() as connection:
        done = await connection.scalar(
            select(func.count()).select_from(Job).where(Job.status == JobStatus.DONE.value))
    await engine.dispose()
    return int(done or 0)


def measure(url: str, jobs: int, workers: int) -> tuple[float, int]:
    """Return (jobs per second, jobs done) for one database."""
    async def migrate() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    start = multiprocessing.Event()
    processes = [multiprocessing.Process(target=_work, args=(url, f"w{n}", start))
                 for n in range(workers)]
    for process in processes:
        process.start()
    began = time.perf_counter()
    start.set()
    asyncio.run(_produce(url, jobs))
    done = 0
    while done < jobs and time.perf_counter() - began < 300:
        done = asyncio.run(_count_done(url))
        time.sleep(0.1)
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join(timeout=30)
    return done / elapsed, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rate, done = measure(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args.jobs,
                             args.workers)
        print(f"sqlite:     {rate:8.0f} jobs/s  ({done}/{args.jobs} done, {args.workers} workers)")
    cluster = PostgresCluster()
    cluster.start()
    try:
        rate, done = measure(cluster.create_database(), args.jobs, args.workers)
        print(f"postgresql: {rate:8.0f} jobs/s  ({done}/{args.jobs} done, {args.workers} workers)")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
