"""Faults: a worker killed mid-session, and a Docker engine that goes away for 30 s."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.github import INSTALLATION_ID
from selfmod_procs import Processes, post_delivery, wait_healthy, wait_logged
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.demo import push_sample
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Repo
from bot.store.db import create_engine
from bot.store.models import Job, ModificationSession

pytestmark = [pytest.mark.postgres, pytest.mark.docker, pytest.mark.slow]

ANALYZE = "analyze_repository"


def self_mod_pulls(hub: FakeHub, repo: Repo) -> list[Any]:
    """Return the repository's self-mod pull requests."""
    return [p for p in hub.state.issues[repo.full_name.lower()].values()
            if p.is_pull and (p.head or "").startswith("self-mod/")]


async def _push_and_deliver(hub: FakeHub, repo: Repo, work: Path, web: Any) -> None:
    await asyncio.to_thread(push_sample, hub, repo, work)
    payload = next(r["payload"] for r in reversed(hub.state.deliveries) if r["event"] == "push")
    async with aiohttp.ClientSession() as session:
        assert await post_delivery(session, web.url, "push", str(uuid.uuid4()), payload) == 202


async def _job(engine: Any, kind: str) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(select(Job).where(Job.kind == kind))).first()


async def _wait(what: str, probe: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def _session_running(engine: AsyncEngine) -> Any:
    """Return the analysis job once it runs and its session row exists, else None."""
    job = await _job(engine, ANALYZE)
    async with engine.connect() as connection:
        started = (await connection.execute(select(ModificationSession))).first()
    return job if job is not None and job.status == "running" and started else None


async def test_worker_killed_mid_session_is_taken_over(
        processes: Processes, fakehub: FakeHub, postgres_url: str, tmp_path: Path) -> None:
    """SIGKILL of the worker running an analysis: another takes it over; one PR in the end."""
    web = processes.web("web", SELFMOD_WORKER_LEASE_SECONDS="6")
    workers = [processes.worker(f"worker{i}", SELFMOD_WORKER_LEASE_SECONDS="6")
               for i in range(2)]
    await wait_healthy(web)
    for worker in workers:
        await wait_logged(worker, "started")
    repo = await fakehub.add_repo("octo-org", "graphs", installation_id=INSTALLATION_ID)
    await _push_and_deliver(fakehub, repo, tmp_path / "work", web)
    engine = create_engine(postgres_url)
    try:
        job = await _wait("a running session", functools.partial(_session_running, engine), 300)
        victim = next(w for w in workers if w.name == job.lease_owner)
        survivor = next(w for w in workers if w is not victim)
        os.killpg(victim.popen.pid, signal.SIGKILL)
        victim.popen.wait()

        async def finished() -> Any:
            row = await _job(engine, ANALYZE)
            return row if row.status in ("done", "dead") else None

        done = await _wait("the analysis to finish", finished, 600)
    finally:
        await engine.dispose()
    assert done.status == "done" and done.attempts == 2, done.last_error
    taken = [line for line in survivor.lines()
             if line.get("job_id") == done.id and "started" in line["message"]]
    assert len(taken) == 1
    assert len(self_mod_pulls(fakehub, repo)) == 1


def _dockerd_pids() -> list[int]:
    found = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


@pytest.mark.disruptive
async def test_docker_engine_down_for_30_seconds(
        processes: Processes, fakehub: FakeHub, postgres_url: str, tmp_path: Path) -> None:
    """The engine stops for 30 s mid-run: the job is retried when it is back; /healthz answers."""
    web = processes.web("web")
    worker = processes.worker("worker0")
    await wait_healthy(web)
    await wait_logged(worker, "started")
    repo = await fakehub.add_repo("octo-org", "graphs", installation_id=INSTALLATION_ID)
    await _push_and_deliver(fakehub, repo, tmp_path / "work", web)
    engine = create_engine(postgres_url)
    probes: list[int | None] = []
    try:
        await _wait("a running session", functools.partial(_session_running, engine), 300)
        await asyncio.sleep(3)  # into the sandbox work
        command = _stop_dockerd()
        probe = asyncio.ensure_future(_probe(web.url + "/healthz", probes, seconds=30))
        await asyncio.sleep(30)
        _start_dockerd(command)
        await probe

        async def finished() -> Any:
            row = await _job(engine, ANALYZE)
            return row if row.status in ("done", "dead") else None

        done = await _wait("the analysis to finish", finished, 900)
    finally:
        if not _dockerd_pids():
            _start_dockerd(["dockerd"])
        await engine.dispose()
    assert probes and all(status == 200 for status in probes), probes
    assert done.status == "done" and done.attempts >= 2
    assert len(self_mod_pulls(fakehub, repo)) == 1


def _stop_dockerd() -> list[str]:
    [pid] = _dockerd_pids()
    command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _dockerd_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    return [part.decode() for part in command]


def _start_dockerd(command: list[str]) -> None:
    with open("/var/log/selfmod-dockerd.log", "ab") as log:
        subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("dockerd did not come back")


async def _probe(url: str, statuses: list[int | None], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=1.0)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as answer:
                    statuses.append(answer.status)
            except (aiohttp.ClientError, TimeoutError):
                statuses.append(None)
            await asyncio.sleep(0.1)
