"""Sandbox overhead and test-suite slowdown: prints figures, asserts nothing.

    .venv/bin/python -P bench/sandbox.py [--image selfmod-sandbox:latest] [--runs 20] [--tests 300]

1. overhead: median wall time of `python -c pass` through the single-shot runner (whole run:
   volume, container, copy in, exec, read back, removal; also with host_files=False, as for a
   remote engine) and through a warm session (exec, reset, checks), next to a bare
   `docker run --rm IMAGE python -c pass` and a bare `docker exec` into a warm container,
   interleaved; goal under 0.4 s.
2. ratio: a generated suite of N quick pytest tests run in the sandbox (pytest's own time, from
   inside), single-shot and in a session, over the same suite on the host with the same Python;
   goal under 1.2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker
from bot.sandbox.runner import SandboxRequest, SandboxRunner
from bot.sandbox.session import SandboxSession

SUITE_MODULE = """
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
"""


def write_suite(folder: Path, tests: int) -> None:
    """Write a small real package and `tests` quick tests of it."""
    (folder / "fibo.py").write_text(SUITE_MODULE)
    per_file = 50
    for index in range(0, tests, per_file):
        body = ["import pytest", "from fibo import fib", ""]
        for n in range(index, min(index + per_file, tests)):
            body += [f"def test_fib_{n}():", f"    assert fib({n % 90}) >= 0", ""]
        (folder / f"test_fib_{index // per_file}.py").write_text("\n".join(body))


def timed_pytest(output: str) -> float:
    """Return pytest's own reported duration from its summary line."""
    for line in reversed(output.splitlines()):
        if " in " in line and "passed" in line:
            return float(line.rsplit(" in ", 1)[1].split("s")[0])
    raise SystemExit(f"no pytest summary in:\n{output[-2000:]}")


def median_line(name: str, times: list[float]) -> str:
    """Return one figure line: median, min, max and count."""
    return (f"{name:<38} median {statistics.median(times):.3f} s "
            f"(min {min(times):.3f}, max {max(times):.3f}, n={len(times)})")


async def overhead(runner: SandboxRunner, api_runner: SandboxRunner, session: SandboxSession,
                   image: str, runs: int) -> None:
    """Print the per-run cost of each path for `python -c pass`."""
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder)
        request = SandboxRequest(workdir=empty, image=image, command=["python", "-c", "pass"])
        single, api_single, warm, bare, bare_exec = [], [], [], [], []
        start = time.perf_counter()
        await session.run(request)
        first = time.perf_counter() - start
        idle = subprocess.run(["docker", "run", "-d", "--rm", "--network", "none", image,
                               "sleep", "600"], check=True, capture_output=True, text=True)
        idle_id = idle.stdout.strip()
        try:
            for _ in range(runs):
                # Interleaved, so a change of load on the shared machine hits every path alike.
                single.append(await _timed(runner.run(request)))
                api_single.append(await _timed(api_runner.run(request)))
                warm.append(await _timed(session.run(request)))
                bare.append(_timed_cmd(["docker", "run", "--rm", "--network", "none", image,
                                        "python", "-c", "pass"]))
                bare_exec.append(_timed_cmd(["docker", "exec", idle_id, "python", "-c", "pass"]))
        finally:
            subprocess.run(["docker", "rm", "-f", idle_id], check=False, capture_output=True)
    print(median_line("single-shot sandbox run (runner.run):", single))
    print(median_line("  the same through the engine API alone:", api_single))
    print(median_line("run within a session (session.run):", warm))
    print(f"{'  session start + first run:':<38} {first:.3f} s")
    print(median_line("bare docker run --rm:", bare))
    print(median_line("bare docker exec (warm container):", bare_exec))
    med = statistics.median
    print(f"single-shot over bare docker run: {med(single) - med(bare):+.3f} s; "
          f"session run over bare docker exec: {med(warm) - med(bare_exec):+.3f} s")


async def _timed(awaitable: Any) -> float:
    start = time.perf_counter()
    await awaitable
    return time.perf_counter() - start


def _timed_cmd(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


async def suite_ratio(runner: SandboxRunner, session: SandboxSession, image: str,
                      tests: int) -> None:
    """Print pytest's own time for a generated suite on the host, single-shot and in a session."""
    with tempfile.TemporaryDirectory() as folder:
        suite = Path(folder)
        write_suite(suite, tests)
        cmd = ["-m", "pytest", "-q", "-p", "no:cacheprovider"]
        # The same pytest on both sides: no third-party plugins auto-loaded.
        plain = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        request = SandboxRequest(workdir=suite, image=image, command=["python", *cmd], env=plain)
        host_times, box_times, warm_times = [], [], []
        for _ in range(3):
            host = subprocess.run([sys.executable, *cmd], cwd=suite, capture_output=True,
                                  text=True, check=False, env={**os.environ, **plain})
            host_times.append(timed_pytest(host.stdout))
            box_times.append(timed_pytest((await runner.run(request)).stdout))
            warm_times.append(timed_pytest((await session.run(request)).stdout))
    host_s = statistics.median(host_times)
    box_s, warm_s = statistics.median(box_times), statistics.median(warm_times)
    print(f"suite of {tests} tests (pytest's own time, median of 3): host {host_s:.2f} s, "
          f"single-shot {box_s:.2f} s (ratio {box_s / host_s:.2f}), "
          f"session {warm_s:.2f} s (ratio {warm_s / host_s:.2f})")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="selfmod-sandbox:latest")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tests", type=int, default=300)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} on {os.cpu_count()} cores")
    client = open_docker(DEFAULT_DOCKER_HOST)
    runner = SandboxRunner(client, engine_url=DEFAULT_DOCKER_HOST)
    async with SandboxSession(client, engine_url=DEFAULT_DOCKER_HOST, image=args.image) as session:
        api_runner = SandboxRunner(client, engine_url=DEFAULT_DOCKER_HOST, host_files=False)
        await overhead(runner, api_runner, session, args.image, args.runs)
        await suite_ratio(runner, session, args.image, args.tests)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
