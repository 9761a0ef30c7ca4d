"""Sandbox overhead and test-suite slowdown: prints figures, asserts nothing.

    .venv/bin/python -P bench/sandbox.py [--image selfmod-sandbox:latest] [--runs 20] [--tests 300]

1. overhead: median wall time of `python -c pass` through the sandbox runner (whole run: volume,
   container, copy in, exec, read back, removal) next to a bare `docker run --rm IMAGE python -c
   pass`; goal under 0.4 s.
2. ratio: a generated suite of N quick pytest tests run in the sandbox (pytest's own time, from
   inside) over the same suite on the host with the same Python; goal under 1.2.
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

from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker
from bot.sandbox.runner import SandboxRequest, SandboxRunner

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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="selfmod-sandbox:latest")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tests", type=int, default=300)
    args = parser.parse_args()
    runner = SandboxRunner(open_docker(DEFAULT_DOCKER_HOST), engine_url=DEFAULT_DOCKER_HOST)
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder)
        sandbox, bare = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            await runner.run(SandboxRequest(workdir=empty, image=args.image,
                                            command=["python", "-c", "pass"]))
            sandbox.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(["docker", "run", "--rm", "--network", "none", args.image,
                            "python", "-c", "pass"], check=True)
            bare.append(time.perf_counter() - start)
    print(f"sandbox run of python -c pass: median {statistics.median(sandbox):.3f} s "
          f"(min {min(sandbox):.3f}, max {max(sandbox):.3f}, n={args.runs})")
    print(f"bare docker run --rm:          median {statistics.median(bare):.3f} s")
    extra = statistics.median(sandbox) - statistics.median(bare)
    print(f"sandbox cost over bare docker run: {extra:+.3f} s")

    with tempfile.TemporaryDirectory() as folder:
        suite = Path(folder)
        write_suite(suite, args.tests)
        cmd = ["-m", "pytest", "-q", "-p", "no:cacheprovider"]
        # The same pytest on both sides: no third-party plugins auto-loaded.
        plain = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        host_times, box_times = [], []
        for _ in range(3):
            host = subprocess.run([sys.executable, *cmd], cwd=suite, capture_output=True,
                                  text=True, check=False, env={**os.environ, **plain})
            host_times.append(timed_pytest(host.stdout))
            result = await runner.run(SandboxRequest(workdir=suite, image=args.image,
                                                     command=["python", *cmd], env=plain))
            box_times.append(timed_pytest(result.stdout))
    host_s, box_s = statistics.median(host_times), statistics.median(box_times)
    print(f"suite of {args.tests} tests: host {host_s:.2f} s, sandbox {box_s:.2f} s, "
          f"ratio {box_s / host_s:.2f} (median of 3)")


if __name__ == "__main__":
    asyncio.run(main())
