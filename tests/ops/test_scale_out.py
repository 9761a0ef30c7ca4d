"""Two web and three worker processes on one PostgreSQL database work as one."""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.github import INSTALLATION_ID
from selfmod_procs import Processes, commit_and_push, post_delivery, wait_healthy, wait_logged
from sqlalchemy import select

from bot.engine.demo import PERSON, push_sample
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Repo
from bot.store.db import create_engine
from bot.store.models import Job, ModificationSession, WebhookDelivery

pytestmark = [pytest.mark.postgres, pytest.mark.docker, pytest.mark.slow]

REPOSITORIES = 3
FEATURE_PUSHES = 264  # with two default-branch pushes per repository: 270 unique deliveries
DUPLICATES = 30


def feature_push(hub: FakeHub, repo: Repo, number: int, sha: str) -> dict[str, Any]:
    """Return a real-shaped push to a feature branch (handled, starts no analysis)."""
    return hub.shapes.delivery(repo, PERSON, ref=f"refs/heads/feature-{number}",
                               before="0" * 40, after=sha, created=True, deleted=False,
                               forced=False, pusher={"name": PERSON, "email": None},
                               head_commit=None, commits=[],
                               compare=f"{hub.base_url}/{repo.full_name}/compare")


def last_push(hub: FakeHub, repo: Repo) -> dict[str, Any]:
    """Return the double's push webhook for the repository's latest push (not yet sent)."""
    return next(r["payload"] for r in reversed(hub.state.deliveries)
                if r["event"] == "push" and r["payload"]["repository"]["id"] == repo.id)


async def test_two_web_three_workers_run_each_job_once(
        processes: Processes, fakehub: FakeHub, postgres_url: str, tmp_path: Path) -> None:
    """300 deliveries over both web processes: each unique job runs once, sessions never overlap."""
    webs = [processes.web(f"web{i}") for i in range(2)]
    workers = [processes.worker(f"worker{i}") for i in range(3)]
    for web in webs:
        await wait_healthy(web)
    for worker in workers:
        await wait_logged(worker, "started")

    repos = [await fakehub.add_repo("octo-org", f"service{i}", installation_id=INSTALLATION_ID)
             for i in range(REPOSITORIES)]
    heads = {}
    first_pushes = []
    for repo in repos:
        heads[repo.id] = await asyncio.to_thread(push_sample, fakehub, repo,
                                                 tmp_path / f"work-{repo.name}")
        first_pushes.append(("push", str(uuid.uuid4()), last_push(fakehub, repo)))
    features = [("push", str(uuid.uuid4()),
                 feature_push(fakehub, repos[i % REPOSITORIES], i,
                              heads[repos[i % REPOSITORIES].id]))
                for i in range(FEATURE_PUSHES)]
    rng = random.Random(11)
    unique = first_pushes + features
    stream = unique + rng.sample(features, DUPLICATES)
    rng.shuffle(stream)
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        statuses += await _send(session, webs, stream, rng)
        # A second push to each repository while its first analysis runs: it must wait.
        engine = create_engine(postgres_url)
        try:
            await _wait_until_analysing(engine, repos)
            second = []
            for repo in repos:
                await asyncio.to_thread(commit_and_push, fakehub, repo,
                                        tmp_path / f"work-{repo.name}")
                second.append(("push", str(uuid.uuid4()), last_push(fakehub, repo)))
            statuses += await _send(session, webs, second, rng)
            unique += second
            await _wait_for_quiet_queue(engine, seconds=900)
            jobs = (await _rows(engine, select(Job)))
            deliveries = await _rows(engine, select(WebhookDelivery))
            sessions = await _rows(engine, select(ModificationSession))
        finally:
            await engine.dispose()

    assert len(statuses) == 300
    assert collections.Counter(statuses) == {202: 270, 200: DUPLICATES}
    assert len(deliveries) == len(unique) == 270
    assert {d.delivery_id for d in deliveries} == {d for _, d, _ in unique}

    # Each job that was not superseded ran exactly once, on exactly one worker.
    starts = collections.Counter()
    ran_on = collections.defaultdict(set)
    for worker in workers:
        for line in worker.lines():
            if line["message"].startswith("job ") and " started" in line["message"]:
                assert line.get("job_id") is not None  # the log context is on the line
                starts[line["job_id"]] += 1
                ran_on[line["job_id"]].add(worker.name)
    event_jobs = [j for j in jobs if j.kind == "github_event"]
    assert len(event_jobs) == 270
    for job in jobs:
        if job.status == "superseded":
            # Only a queued job is superseded: one that never ran, or one that failed and
            # waited for its retry (under load an analysis can fail; the newer push wins).
            assert starts[job.id] == job.attempts, (job.id, job.attempts, job.last_error)
            assert starts[job.id] == 0 or job.last_error is not None, job.id
            continue
        assert job.status == "done", (job.kind, job.status, job.last_error)
        assert starts[job.id] == 1 and job.attempts == 1, job.id
    assert all(len(names) == 1 for names in ran_on.values())
    assert {name for names in ran_on.values() for name in names} == {w.name for w in workers}

    # Sessions of one repository never overlapped; each repository was analysed twice.
    by_repo = collections.defaultdict(list)
    for row in sessions:
        by_repo[row.repository_id].append(row)
    assert set(by_repo) == {repo.id for repo in repos}
    for rows in by_repo.values():
        rows.sort(key=lambda r: r.started_at)
        assert len(rows) == 2 and all(r.completed_at is not None for r in rows)
        for earlier, later in itertools.pairwise(rows):
            assert earlier.completed_at <= later.started_at
    # The analysis of the first push proposed once; the second found it already open.
    for repo in repos:
        pulls = [p for p in fakehub.state.issues[repo.full_name.lower()].values()
                 if p.is_pull and (p.head or "").startswith("self-mod/")]
        assert len(pulls) == 1


async def _send(session: aiohttp.ClientSession, webs: list[Any],
                stream: list[tuple[str, str, Any]], rng: random.Random) -> list[int]:
    limit = asyncio.Semaphore(16)

    async def one(event: str, delivery: str, payload: Any) -> int:
        async with limit:
            return await post_delivery(session, rng.choice(webs).url, event, delivery, payload)

    return list(await asyncio.gather(*(one(*item) for item in stream)))


async def _rows(engine: Any, statement: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list(await connection.execute(statement))


async def _wait_until_analysing(engine: Any, repos: list[Repo]) -> None:
    groups = {f"repository:{repo.id}" for repo in repos}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        running = {j.group_key for j in await _rows(engine, select(Job).where(
            Job.kind == "analyze_repository", Job.status.in_(("running", "done"))))}
        if groups <= running:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the analyses never started")


async def _wait_for_quiet_queue(engine: Any, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pending = await _rows(engine, select(Job.id).where(Job.status.in_(("queued",
                                                                            "running"))))
        if not pending:
            return
        await asyncio.sleep(0.5)
    raise AssertionError("jobs were still pending")
