"""Real `selfmod serve` and `selfmod worker` processes for the operations tests and benches."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
from fakes.github import signed_headers

from bot.fakehub.server import FakeHub
from bot.store.pgcluster import free_port

SANDBOX_IMAGE = "selfmod-sandbox:latest"
# The installed console script, as production runs it.
SELFMOD = [str(Path(sys.executable).parent / "selfmod")]


class Proc:
    """One selfmod process with its JSON log file."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path,
                 port: int | None = None) -> None:
        self.name = name
        self.popen = popen
        self.log = log
        self.port = port

    @property
    def url(self) -> str:
        """Return the base URL of a web process."""
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, Any]]:
        """Return the JSON log lines written so far (other lines are skipped)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found

    def signal(self, signum: int) -> None:
        """Send a signal to the process."""
        if self.popen.poll() is None:
            self.popen.send_signal(signum)


class Processes:
    """Starts selfmod processes against one database and stops them all afterwards."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.env = dict(env)
        self.started: list[Proc] = []

    def _start(self, name: str, args: list[str], extra: Mapping[str, str],
               port: int | None = None) -> Proc:
        log = self.root / f"{name}.log"
        env = {**os.environ, **self.env, **extra}
        popen = subprocess.Popen([*SELFMOD, *args], env=env, stdout=subprocess.DEVNULL,
                                 stderr=log.open("wb"), cwd=self.root,
                                 start_new_session=True)
        proc = Proc(name, popen, log, port)
        self.started.append(proc)
        return proc

    def web(self, name: str, **extra: str) -> Proc:
        """Start `selfmod serve` on a free port."""
        port = free_port()
        return self._start(name, ["serve", "--port", str(port)], extra, port)

    def worker(self, name: str, **extra: str) -> Proc:
        """Start `selfmod worker` with its own data folder."""
        data = self.root / f"{name}-data"
        return self._start(name, ["worker", "--id", name],
                           {"SELFMOD_DATA_DIR": str(data), **extra})

    def stop(self) -> None:
        """SIGTERM every process, then SIGKILL what is still there."""
        for proc in self.started:
            proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.started:
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()


def commit_and_push(hub: FakeHub, repo: Any, work: Path) -> str:
    """Commit a small change in a clone made by `push_sample` and push it; return its id."""
    from bot.engine.demo import PERSON

    (work / "CHANGES.txt").write_text(f"change {time.time_ns()}\n")
    url = hub.base_url.replace("http://", f"http://{PERSON}:{hub.user_token(PERSON)}@")
    git = ["git", "-c", "core.hooksPath=/dev/null", "-c", f"user.name={PERSON}",
           "-c", f"user.email={PERSON}@example.com", "-C", str(work)]
    for args in (["add", "-A"], ["commit", "-q", "-m", "Note a change"],
                 ["push", "-q", f"{url}/{repo.full_name}.git", f"HEAD:{repo.default_branch}"]):
        subprocess.run([*git, *args], check=True, capture_output=True, timeout=120)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


async def wait_healthy(proc: Proc, *, seconds: float = 60) -> None:
    """Wait until a web process answers /healthz."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.popen.poll() is not None:
                raise AssertionError(f"{proc.name} exited:\n{proc.log.read_text()[-3000:]}")
            try:
                async with session.get(proc.url + "/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{proc.name} never answered /healthz")
            await asyncio.sleep(0.1)


async def wait_logged(proc: Proc, text: str, *, seconds: float = 60) -> None:
    """Wait until a process logs a message containing text."""
    deadline = time.monotonic() + seconds
    while not any(text in line.get("message", "") for line in proc.lines()):
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited:\n{proc.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{proc.name} never logged {text!r}")
        await asyncio.sleep(0.1)


async def post_delivery(session: aiohttp.ClientSession, url: str, event: str,
                        delivery_id: str, payload: Any) -> int:
    """POST one signed delivery and return the status."""
    body = json.dumps(payload).encode()
    async with session.post(url + "/webhook", data=body,
                            headers=signed_headers(event, delivery_id, body)) as answer:
        await answer.read()
        return answer.status
