"""Webhook intake: 2,000 signed deliveries over 100 connections to `selfmod serve` on SQLite.

Two runs, each of 2,000 deliveries over 100 connections:
- saturated: every connection sends its next delivery as soon as the last is answered; gives
  the most deliveries per second. Its latency is mostly queueing (Little's law: 100 in flight
  at N/s wait about 100/N s), so it says little about how fast one delivery is served.
- paced: deliveries start at a fixed rate (--rate, default 500/s, as GitHub sends them: when
  events happen), spread over the 100 connections; gives p50/p99 at that rate.
Both print p50/p99 latency, deliveries per second, how many were lost (missing from
webhook_deliveries), and the server's CPU time per delivery (from /proc, all its threads):
on a machine shared with other work, that figure is the one that does not depend on the load
(printed too). Goal: p99 < 50 ms at 500/s, >= 500/s, none lost.
The same two runs against a server that only reads the body and answers 202 ("floor") show
what the client and the machine cost by themselves (--no-floor skips them).
Run: .venv/bin/python -P bench/webhook.py [--deliveries 2000] [--concurrency 100] [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.github.signature import build_signature

PAYLOAD = Path(__file__).resolve().parents[2] / "shared" / "github" / "webhooks" / "push.0.json"
SECRET = "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(folder: Path) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = folder / "app.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'bench.db'}",
            "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY_PATH": str(pem),
            "GITHUB_WEBHOOK_SECRET": SECRET, "SELFMOD_LOG_LEVEL": "WARNING"}


async def _wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        # Start-up imports the whole app; on a busy machine that takes a while.
        for _ in range(1200):
            try:
                async with session.get(url + "/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("selfmod serve did not become ready")


async def _send(url: str, count: int, concurrency: int,
                rate: float | None) -> tuple[list[float], int, float]:
    """Send `count` deliveries; with `rate`, start them at that pace instead of back to back."""
    body = PAYLOAD.read_bytes()
    signature = build_signature(body, SECRET)
    latencies: list[float] = []
    failures = 0
    ids = iter([str(uuid.uuid4()) for _ in range(count)])
    connector = aiohttp.TCPConnector(limit=concurrency)
    began = time.perf_counter()
    sent = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_connection() -> None:
            nonlocal failures, sent
            for delivery in ids:
                if rate is not None:
                    # Open loop: delivery number n starts at n / rate seconds.
                    due = began + sent / rate
                    sent += 1
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                           "X-Hub-Signature-256": signature,
                           "Content-Type": "application/json"}
                start = time.perf_counter()
                async with session.post(url + "/webhook", data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 202:
                        failures += 1
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(one_connection() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return latencies, failures, elapsed


# A server doing nothing but reading each body and answering 202, on the same event loop.
FLOOR_SERVER = """
import sys
from aiohttp import web
try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
async def answer(request):
    await request.read()
    return web.json_response({"status": 202}, status=202)
app = web.Application()
app.router.add_post("/webhook", answer)
app.router.add_get("/readyz", lambda request: web.Response(text="ok"))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def _run_client(url: str, pid: int, deliveries: int, concurrency: int,
                rate: float) -> list[dict[str, Any]]:
    asyncio.run(_wait_ready(url))
    runs = []
    for name, pace in (("saturated", None), ("paced", rate)):
        before = _cpu_seconds(pid)
        sent = asyncio.run(_send(url, deliveries, concurrency, pace))
        runs.append(_figures(name, *sent, _cpu_seconds(pid) - before))
    return runs


def _floor(deliveries: int, concurrency: int, rate: float) -> list[dict[str, Any]]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", FLOOR_SERVER, str(port)])
    try:
        return _run_client(f"http://127.0.0.1:{port}", server.pid, deliveries, concurrency,
                           rate)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _cpu_seconds(pid: int) -> float:
    """Return the user and system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _figures(name: str, latencies: list[float], failures: int, elapsed: float,
             cpu: float) -> dict[str, Any]:
    latencies = sorted(latencies)
    return {"run": name, "deliveries": len(latencies),
            "server_cpu_ms_per_delivery": round(cpu / len(latencies) * 1000, 3),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "per_second": round(len(latencies) / elapsed, 1), "non_202": failures}


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the runs against a server that does nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as scratch:
        folder = Path(scratch)
        env = _environment(folder)
        selfmod = [sys.executable, "-m", "bot.cli"]
        subprocess.run([*selfmod, "db", "upgrade"], env=env, check=True, capture_output=True)
        port = _free_port()
        server = subprocess.Popen([*selfmod, "serve", "--port", str(port)], env=env)
        try:
            runs = _run_client(f"http://127.0.0.1:{port}", server.pid, args.deliveries,
                               args.concurrency, args.rate)
        finally:
            server.terminate()
            server.wait(timeout=30)
        with sqlite3.connect(folder / "bench.db") as db:
            recorded = db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0]
            jobs = db.execute("SELECT count(*) FROM jobs WHERE kind='github_event'").fetchone()[0]
    sent = args.deliveries * len(runs)
    figures: dict[str, Any] = {"concurrency": args.concurrency, "paced_rate": args.rate,
                               "runs": runs, "recorded": recorded, "jobs": jobs,
                               "lost": sent - recorded}
    if not args.no_floor:
        figures["floor_runs"] = _floor(args.deliveries, args.concurrency, args.rate)
    figures["load_average"] = os.getloadavg()[0]
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
