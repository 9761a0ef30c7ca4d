"""Stability of the web process while the machine runs sandbox-heavy sessions.

Starts `selfmod serve`, then keeps `selfmod run` busy on a fixture repository (baseline tests,
candidate tests and A/B benchmarks in the Docker sandbox, back to back) while a probe calls
/healthz every 100 ms for 60 s on a fresh connection each time. Prints the success ratio and the
latency percentiles (goal: >= 99.9% and p99 < 100 ms), and how many sandbox runs happened.

    .venv/bin/python bench/stability.py [--seconds 60] [--interval 0.1]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py would shadow the standard library's queue module that aiosqlite imports.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text

from bot.store.db import create_engine
from bot.store.migrate import upgrade
from bot.store.pgcluster import free_port

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "engine" / "fixtures" / "quadratic"
SELFMOD = str(Path(sys.executable).parent / "selfmod")


def _key() -> str:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


def _git_repo(dest: Path) -> Path:
    shutil.copytree(FIXTURE, dest)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit",
                  "-qm", "fixture"]):
        subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-C", str(dest), *args],
                       check=True, capture_output=True)
    return dest


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()


async def _sandbox_runs(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(
                text("SELECT count(*) FROM sandbox_executions"))).scalar_one())
    except Exception:  # no run has created the schema yet
        return 0
    finally:
        await engine.dispose()


async def _wait_up(url: str, server: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit("selfmod serve exited at start")
            try:
                async with session.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("selfmod serve never answered")


async def _probe(url: str, seconds: float, interval: float) -> list[float | None]:
    """Call url every interval; return each latency in seconds, None for a failure."""
    results: list[float | None] = []
    timeout = aiohttp.ClientTimeout(total=1.0)
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        sent = time.perf_counter()
        try:
            # A new connection each time, as a load balancer's health check makes.
            async with aiohttp.ClientSession(timeout=timeout,
                                             connector=aiohttp.TCPConnector(force_close=True)
                                             ) as session, session.get(url) as answer:
                await answer.read()
                results.append(time.perf_counter() - sent if answer.status == 200 else None)
        except (aiohttp.ClientError, TimeoutError):
            results.append(None)
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * interval - time.monotonic()))
    return results


def _load(folder: Path, env: dict[str, str], stop: float) -> list[subprocess.Popen[bytes]]:
    """Start `selfmod run` sessions one after another until the deadline (in a thread)."""
    done: list[subprocess.Popen[bytes]] = []
    index = 0
    while time.monotonic() < stop:
        repo = _git_repo(folder / f"repo{index}")
        run = subprocess.Popen([SELFMOD, "run", str(repo), "--json"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        done.append(run)
        while run.poll() is None and time.monotonic() < stop:
            time.sleep(0.2)
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(30)
        index += 1
    return done


async def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="selfmod-stability-") as tmp:
        folder = Path(tmp)
        web_db = f"sqlite+aiosqlite:///{folder / 'web.db'}"
        run_db = f"sqlite+aiosqlite:///{folder / 'run.db'}"
        await _migrate(web_db)
        port = free_port()
        env = {**os.environ, "SELFMOD_LOG_LEVEL": "WARNING", "GITHUB_APP_ID": "1",
               "GITHUB_PRIVATE_KEY": _key(), "GITHUB_WEBHOOK_SECRET": "bench",
               "SELFMOD_SANDBOX_IMAGE": os.environ.get("SELFMOD_SANDBOX_IMAGE")
               or "selfmod-sandbox:latest"}
        server = subprocess.Popen([SELFMOD, "serve", "--port", str(port)],
                                  env={**env, "DATABASE_URL": web_db},
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}/healthz"
        try:
            await _wait_up(url, server)
            load_env = {**env, "DATABASE_URL": run_db, "SELFMOD_DATA_DIR": str(folder / "d")}
            loop = asyncio.get_running_loop()
            stop = time.monotonic() + args.seconds + 5
            load = loop.run_in_executor(None, _load, folder, load_env, stop)
            await asyncio.sleep(5)  # let the first session reach the sandbox
            results = await _probe(url, args.seconds, args.interval)
            runs = await load
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        sandbox_runs = await _sandbox_runs(run_db)
    ok = sorted(r for r in results if r is not None)
    ratio = len(ok) / len(results) if results else 0.0
    p50 = statistics.median(ok) * 1000 if ok else float("nan")
    p99 = ok[min(len(ok) - 1, int(len(ok) * 0.99))] * 1000 if ok else float("nan")
    print(f"probes: {len(results)} over {args.seconds:.0f}s every {args.interval * 1000:.0f}ms")
    print(f"success: {len(ok)}/{len(results)} = {ratio * 100:.2f}% (goal >= 99.9%)")
    print(f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms (goal < 100 ms), "
          f"max {ok[-1] * 1000 if ok else float('nan'):.1f} ms")
    print(f"load: {len(runs)} selfmod run sessions, {sandbox_runs} sandbox runs recorded, "
          f"{os.cpu_count()} cores")


if __name__ == "__main__":
    asyncio.run(main())
