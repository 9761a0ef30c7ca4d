"""`selfmod demo`: the whole pull-request loop against the GitHub double, on this machine.

The double, the app and a worker run in this process on a temporary SQLite database; a
person pushes a sample repository with a planted hot spot, selfmod proposes a signed pull
request, the person merges it and asks for a rollback, and selfmod opens the revert.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from bot.engine.demo_sample import SAMPLE_FILES
from bot.errors import SandboxError, SelfmodError
from bot.fakehub.server import FakeHub
from bot.fakehub.state import Issue, Repo
from bot.settings import Settings, load_settings
from bot.store.models import CodeModification

INSTALLATION_ID = 1
OWNER, NAME, PERSON = "demo-org", "graphs", "alice"
ROLLBACK_REASON = "slower in prod"
T = TypeVar("T")


class DemoError(SelfmodError):
    """The demo story could not go on; the message says which step and why."""


@dataclass
class Step:
    """One step of the story, its duration and what it produced."""

    name: str
    seconds: float
    detail: str
    link: str | None = None


@dataclass
class DemoReport:
    """What the demo did, for the terminal or as one JSON object."""

    folder: str
    request_log: str
    steps: list[Step] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON values."""
        return {"folder": self.folder, "request_log": self.request_log, **self.facts,
                "timings": {s.name: round(s.seconds, 3) for s in self.steps},
                "steps": [{"name": s.name, "seconds": round(s.seconds, 3), "detail": s.detail,
                           "link": s.link} for s in self.steps]}


def build_demo_settings(folder: Path, hub_url: str, private_key: str, secret: str,
                        image: str) -> Settings:
    """Return settings for the app and worker of the demo: all local, nothing of GitHub."""
    return load_settings({"DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'selfmod.db'}",
                          "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": private_key,
                          "GITHUB_WEBHOOK_SECRET": secret, "GITHUB_API_URL": hub_url,
                          "SELFMOD_DATA_DIR": str(folder / "data"),
                          "SELFMOD_SANDBOX_IMAGE": image, "SELFMOD_LOG_LEVEL": "WARNING"})


def new_app_key() -> str:
    """Return a fresh RSA private key (PEM) for the demo's App."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def check_sandbox(settings: Settings) -> None:
    """Make sure Docker answers and the sandbox image exists; say how to fix it if not."""
    import docker
    import docker.errors

    from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker

    url = settings.docker_hosts[0] if settings.docker_hosts else DEFAULT_DOCKER_HOST
    try:
        client = open_docker(url, timeout=10)
        client.images.get(settings.sandbox_image)
    except docker.errors.ImageNotFound:
        raise SandboxError(f"the sandbox image {settings.sandbox_image} is missing: build it "
                           "with scripts/build-sandbox-image.sh") from None
    except (docker.errors.DockerException, SelfmodError, OSError) as exc:
        raise SandboxError(f"the demo needs a running Docker engine at {url} ({exc}); "
                           "start dockerd and try again") from None


def push_sample(hub: FakeHub, repo: Repo, work: Path) -> str:
    """Commit the sample as a person and push it over smart HTTP; return the commit id."""
    url = hub.base_url.replace("http://", f"http://{PERSON}:{hub.user_token(PERSON)}@")
    for path, text in SAMPLE_FILES.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git = ["git", "-c", "core.hooksPath=/dev/null", "-c", f"user.name={PERSON}",
           "-c", f"user.email={PERSON}@example.com", "-C", str(work)]
    for args in (["init", "-q", "-b", repo.default_branch], ["add", "-A"],
                 ["commit", "-q", "-m", "Breadth-first walks"],
                 ["push", "-q", f"{url}/{repo.full_name}.git", f"HEAD:{repo.default_branch}"]):
        done = subprocess.run([*git, *args], capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode != 0:
            raise DemoError(f"git {args[0]} of the sample failed: {done.stderr.strip()[-300:]}")
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True)
    return head.stdout.strip()


async def wait_for(what: str, probe: Callable[[], Awaitable[T | None]], *,
                   timeout: float, failed: Callable[[], Awaitable[str | None]]) -> T:
    """Poll until probe gives a value; stop early with the reason `failed` finds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await probe()
        if found is not None:
            return found
        problem = await failed()
        if problem:
            raise DemoError(f"waiting for {what}: {problem}")
        await asyncio.sleep(0.2)
    raise DemoError(f"gave up waiting for {what} after {timeout:.0f} s")


def find_pull(hub: FakeHub, repo: Repo, *, revert: bool) -> Issue | None:
    """Return the newest self-mod (or revert) pull request of the repository."""
    pulls = [p for p in hub.state.issues[repo.full_name.lower()].values()
             if p.is_pull and (p.head or "").startswith("self-mod/")
             and (p.head or "").endswith("-revert") == revert]
    return pulls[-1] if pulls else None


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp application on a free local port; yield its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class DemoStory:
    """Runs the story step by step, timing each."""

    def __init__(self, folder: Path, image: str, *, timeout: float = 900.0,
                 say: Callable[[Step], None] = lambda step: None) -> None:
        self.folder = folder
        self.image = image
        self.timeout = timeout
        self.say = say
        self.report = DemoReport(str(folder), str(folder / "requests.jsonl"))
        self._started = time.monotonic()

    def _step(self, name: str, detail: str, link: str | None = None) -> None:
        now = time.monotonic()
        step = Step(name, now - self._started, detail, link)
        self._started = now
        self.report.steps.append(step)
        self.say(step)

    async def run(self) -> DemoReport:
        """Start everything, play the story, stop everything."""
        from bot.engine.jobs import build_job_handlers
        from bot.engine.worker import Worker
        from bot.fakehub.routes import build_app
        from bot.store.db import create_engine, create_sessionmaker
        from bot.store.migrate import upgrade
        from bot.store.queue import JobQueue
        from bot.web.app import create_app

        key, secret = new_app_key(), secrets.token_hex(16)
        hub = FakeHub(repos_dir=self.folder / "hub", app_id=1, app_key=key, webhook_url=None,
                      webhook_secret=secret, request_log=Path(self.report.request_log))
        async with serve(build_app(hub)) as hub_url:
            hub.set_base_url(hub_url)
            settings = build_demo_settings(self.folder, hub_url, key, secret, self.image)
            await asyncio.to_thread(check_sandbox, settings)
            engine = create_engine(settings.database_url)
            await upgrade(engine)
            self._step("start", f"GitHub double at {hub_url}, SQLite at {self.folder}")
            queue = JobQueue(engine)
            worker = Worker(queue, build_job_handlers(settings, engine), worker_id="demo",
                            poll_seconds=0.1)
            running = asyncio.ensure_future(worker.run())
            try:
                async with serve(create_app(settings)) as app_url:
                    hub.webhook_url = f"{app_url}/webhook"
                    self._step("app", f"app at {app_url}, worker running")
                    await self._play(hub, create_sessionmaker(engine), running)
                    # The last webhooks (the revert's `opened`) land before the app stops.
                    await hub.drain()
            finally:
                worker.stop()
                await asyncio.gather(running, return_exceptions=True)
                await hub.drain()
                await queue.close()
                await engine.dispose()
        self._check_contract()
        return self.report

    def _check_contract(self) -> None:
        """Check every request the app made against GitHub's description, when it is there."""
        from bot.fakehub.contract import check_contract

        outcome = check_contract(Path(self.report.request_log))
        self.report.facts["contract"] = {
            "checked": outcome.checked, "problems": list(outcome.problems),
            "spec": str(outcome.spec) if outcome.spec else None}
        self._step("contract", outcome.describe())

    async def _play(self, hub: FakeHub, sessions: Any, running: asyncio.Future[Any]) -> None:
        repo = await hub.add_repo(OWNER, NAME)
        hub.add_installation(INSTALLATION_ID, OWNER, [repo])
        hub.set_permission(repo, PERSON, "write")
        self._step("install", f"app installed on {repo.full_name}; {PERSON} may write")

        async def worker_died() -> str | None:
            return f"the worker stopped: {running.exception()!r}" if running.done() else None

        pushed = await asyncio.to_thread(push_sample, hub, repo, self.folder / "work")
        self._step("push", f"{PERSON} pushed {pushed[:12]} to {repo.default_branch}")
        facts = self.report.facts
        facts["pushed_commit"] = pushed

        async def proposal() -> Issue | None:
            return find_pull(hub, repo, revert=False)

        pull = await wait_for("the self-mod pull request", proposal, timeout=self.timeout,
                              failed=lambda: _job_failure(sessions, worker_died))
        facts.update(pull_request=pull.number, branch=pull.head, commit=pull.head_sha,
                     pull_request_url=f"{hub.base_url}/{repo.full_name}/pull/{pull.number}")
        self._step("proposal", f"#{pull.number} {pull.title} from {pull.head}",
                   facts["pull_request_url"])
        merge = await hub.merge(repo, pull.number, PERSON)
        facts["merge_commit"] = merge

        async def applied() -> CodeModification | None:
            row = await _modification(sessions, pull.number)
            return row if row is not None and row.status == "applied" else None

        await wait_for("the merge to be recorded", applied, timeout=60,
                       failed=lambda: _job_failure(sessions, worker_died))
        self._step("merge", f"{PERSON} merged #{pull.number} as {merge[:12]}; recorded applied")
        await hub.comment(repo, pull.number, PERSON, f"/selfmod rollback {ROLLBACK_REASON}")
        self._step("rollback comment", f"{PERSON}: /selfmod rollback {ROLLBACK_REASON}")

        async def revert() -> Issue | None:
            return find_pull(hub, repo, revert=True)

        back = await wait_for("the revert pull request", revert, timeout=120,
                              failed=lambda: _job_failure(sessions, worker_died))
        facts.update(revert_pull_request=back.number, revert_branch=back.head,
                     revert_commit=back.head_sha,
                     revert_pull_request_url=f"{hub.base_url}/{repo.full_name}/pull/"
                                             f"{back.number}")
        self._step("revert", f"#{back.number} {back.title} from {back.head}",
                   facts["revert_pull_request_url"])


async def _modification(sessions: Any, number: int) -> CodeModification | None:
    async with sessions() as session:
        row: CodeModification | None = (await session.execute(select(CodeModification).where(
            CodeModification.pull_request_number == number))).scalars().first()
        return row


async def _job_failure(sessions: Any,
                       worker_died: Callable[[], Awaitable[str | None]]) -> str | None:
    """Return why the story cannot go on: a dead job or a stopped worker."""
    from bot.store.models import Job

    died = await worker_died()
    if died:
        return died
    async with sessions() as session:
        dead = (await session.execute(select(Job).where(Job.status == "dead"))).scalars().first()
    if dead is None:
        return None
    last = (dead.last_error or "").strip().splitlines()
    return f"job {dead.kind} failed: {last[-1] if last else 'no error recorded'}"


def _print_step(step: Step) -> None:
    link = f"\n{'':>22}{step.link}" if step.link else ""
    print(f"[{step.seconds:7.2f} s] {step.name:<16} {step.detail}{link}", flush=True)


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo story and print each step (or one JSON object with --json)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # bandit's plugin loader complains about an optional output format nobody uses here.
    logging.getLogger("stevedore").setLevel(logging.CRITICAL)
    image = settings.sandbox_image
    folder = Path(tempfile.mkdtemp(prefix="selfmod-demo-"))
    story = DemoStory(folder, image, say=(lambda step: None) if args.json else _print_step)
    report = asyncio.run(story.run())
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"\nrequests the app made: {report.request_log}\nfiles kept in {folder}")
    # Requests outside GitHub's description fail the demo; a skipped check does not.
    return 1 if report.facts["contract"]["problems"] else 0
