"""Rollback time: from the `/selfmod rollback` comment's delivery to the revert pull request.

Runs the GitHub double, the app and a worker (default settings: 0.5 s poll) in this process on
a temporary SQLite database. Each round a person merges a fresh self-mod pull request (the
modification row is recorded as the analysis job would), then comments the rollback; the time
until the revert pull request is open is measured. Goal: under 5 s (the PRD asks under 30 s).

    .venv/bin/python -P bench/rollback.py --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.engine.demo import (
    PERSON,
    build_demo_settings,
    find_pull,
    new_app_key,
    push_sample,
    serve,
)
from bot.engine.jobs import build_job_handlers
from bot.engine.worker import Worker
from bot.fakehub.routes import build_app
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Repo
from bot.github.context import ANALYZE_JOB
from bot.store.db import create_engine, create_sessionmaker
from bot.store.migrate import upgrade
from bot.store.models import CodeModification, ModificationSession, Repository
from bot.store.queue import JobQueue
from bot.web.app import create_app


async def _git(work: Path, *args: str) -> str:
    # In a thread: the double answering git runs on this event loop.
    argv = ["git", "-c", "core.hooksPath=/dev/null", "-c", f"user.name={PERSON}",
            "-c", f"user.email={PERSON}@example.com", "-C", str(work), *args]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                   check=True, timeout=60)
    return done.stdout.strip()


async def propose_by_hand(hub: FakeHub, repo: Repo, work: Path, sessions: Any,
                          number: int) -> tuple[uuid.UUID, int]:
    """Push a self-mod branch with one change, open its PR and record the modification."""
    modification_id = uuid.uuid4()
    branch = f"self-mod/{modification_id}"
    url = hub.base_url.replace("http://", f"http://{PERSON}:{hub.user_token(PERSON)}@")
    remote = f"{url}/{repo.full_name}.git"
    await _git(work, "fetch", "-q", remote, repo.default_branch)
    await _git(work, "checkout", "-q", "-B", branch, "FETCH_HEAD")
    (work / "graphs" / f"note_{number}.py").write_text(f'"""Round {number}."""\n')
    await _git(work, "add", "-A")
    await _git(work, "commit", "-q", "-m", f"round {number}")
    await _git(work, "push", "-q", remote, f"HEAD:refs/heads/{branch}")
    pull = await hub.open_pull(repo, branch, repo.default_branch, f"Round {number}", PERSON)
    async with sessions.begin() as session:
        if await session.get(Repository, repo.id) is None:
            session.add(Repository(id=repo.id, full_name=repo.full_name,
                                   default_branch=repo.default_branch))
            await session.flush()
        run = ModificationSession(codebase_path=repo.full_name, repository_id=repo.id)
        session.add(run)
        await session.flush()
        session.add(CodeModification(id=modification_id, session_id=run.id,
                                     file_path=f"graphs/note_{number}.py", status="proposed",
                                     title=f"Round {number}", branch=branch,
                                     pull_request_number=pull.number))
    return modification_id, pull.number


async def wait(probe: Any, timeout: float = 60.0) -> Any:
    """Poll a probe every 10 ms until it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.01)
    raise TimeoutError("gave up")


async def main(rounds: int) -> None:
    """Run the rounds and print the figures."""
    folder = Path(tempfile.mkdtemp(prefix="selfmod-bench-rollback-"))
    key, secret = new_app_key(), secrets.token_hex(16)
    hub = FakeHub(repos_dir=folder / "hub", app_id=1, app_key=key, webhook_url=None,
                  webhook_secret=secret, request_log=None)
    async with serve(build_app(hub)) as hub_url:
        hub.set_base_url(hub_url)
        settings = build_demo_settings(folder, hub_url, key, secret, "unused")
        engine = create_engine(settings.database_url)
        await upgrade(engine)
        sessions = create_sessionmaker(engine)
        queue = JobQueue(engine)
        # No analysis here: the sandbox is not what this measures.
        handlers = {k: v for k, v in build_job_handlers(settings, engine).items()
                    if k != ANALYZE_JOB}
        worker = Worker(queue, handlers, worker_id="bench",
                        poll_seconds=settings.worker_poll_seconds)
        running = asyncio.ensure_future(worker.run())
        async with serve(create_app(settings)) as app_url:
            hub.webhook_url = f"{app_url}/webhook"
            repo = await hub.add_repo("bench-org", "graphs")
            hub.add_installation(1, "bench-org", [repo])
            hub.set_permission(repo, PERSON, "write")
            work = folder / "work"
            await asyncio.to_thread(push_sample, hub, repo, work)
            times = []
            for number in range(1, rounds + 1):
                modification_id, pr = await propose_by_hand(hub, repo, work, sessions, number)
                await hub.merge(repo, pr, PERSON)

                async def applied(mid: uuid.UUID = modification_id) -> bool:
                    async with sessions() as session:
                        row = (await session.execute(select(CodeModification.status).where(
                            CodeModification.id == mid))).scalar()
                    return row == "applied"

                await wait(applied)
                reverts_before = len([p for p in hub.state.issues[repo.full_name.lower()]
                                      .values() if (p.head or "").endswith("-revert")])
                started = time.perf_counter()
                await hub.comment(repo, pr, PERSON, "/selfmod rollback slower in prod")

                async def reverted(count: int = reverts_before) -> bool:
                    found = [p for p in hub.state.issues[repo.full_name.lower()].values()
                             if (p.head or "").endswith("-revert")]
                    return len(found) > count

                await wait(reverted)
                times.append(time.perf_counter() - started)
                assert find_pull(hub, repo, revert=True) is not None
            await hub.drain()
        worker.stop()
        await asyncio.gather(running, return_exceptions=True)
        await queue.close()
        await engine.dispose()
    print(f"rollback: comment delivered -> revert PR opened, {rounds} rounds, "
          f"worker poll {settings.worker_poll_seconds:.1f} s")
    print(f"  median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
          f"max {max(times):.2f} s (goal < 5 s; PRD < 30 s)")
    print("  each: " + ", ".join(f"{t:.2f}" for t in times))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    asyncio.run(main(parser.parse_args().rounds))
