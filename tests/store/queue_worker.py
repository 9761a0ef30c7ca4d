"""A worker process for queue tests: runs test job kinds and logs what it ran to a file."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.engine.worker import Worker
from bot.store.db import create_engine
from bot.store.queue import ClaimedJob, JobQueue


def _append(path: Path, line: str) -> None:
    # One write per line on an O_APPEND file: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("log", type=Path)
    parser.add_argument("--id", required=True)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--max-jobs", type=int, default=0)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()

    async def record(job: ClaimedJob) -> Mapping[str, Any]:
        _append(args.log, f"ran {job.id} {args.id}")
        return {"by": args.id}

    async def slow(job: ClaimedJob) -> Mapping[str, Any]:
        _append(args.log, f"start {job.id} {args.id}")
        await asyncio.sleep(float(job.payload["seconds"]))
        _append(args.log, f"done {job.id} {args.id}")
        return {"by": args.id}

    engine = create_engine(args.database_url)
    worker = Worker(JobQueue(engine), {"record": record, "slow": slow}, worker_id=args.id,
                    lease_seconds=args.lease, poll_seconds=0.05)
    if args.max_jobs:
        done = 0
        while done < args.max_jobs:
            done += await worker.run(once=True)
            await asyncio.sleep(0.05)
    else:
        await worker.run(once=args.once)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
