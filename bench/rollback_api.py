"""Rollback time through the REST API: POST /self-modify/rollback on a local repository.

Runs `selfmod serve`'s app in this process on a temporary SQLite database, over real HTTP.
Each round records an analysis with a signed review branch (as the pipeline does after its
sandbox run), applies it with an approval token through the API, then times the rollback
request until its answer: the branch reset, or a signed revert commit when a developer
committed after the modification. Goal: under 1 s.

    .venv/bin/python -P bench/rollback_api.py --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# The recorded-analysis helper is shared with the API tests, so both start from the same rows.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))

from apikit import AUTH, api_settings, git, make_repo, migrate, record_analysis, token

from bot.web.app import create_app


async def _round(session: aiohttp.ClientSession, base: str, settings: Any, repo: Path,
                 later_work: bool) -> float:
    analysis = await record_analysis(settings, repo)
    async with session.post(f"{base}/self-modify/apply", headers=AUTH, json={
            "analysis_id": analysis["analysis_id"], "selected_modifications": analysis["ids"],
            "approval_token": token(analysis["analysis_id"])}) as response:
        assert response.status == 200, await response.text()
    if later_work:
        (repo / "later.txt").write_text(f"{time.time()}\n")
        git(repo, "add", "later.txt")
        git(repo, "commit", "-qm", "later work")
    started = time.perf_counter()
    async with session.post(f"{base}/self-modify/rollback", headers=AUTH, json={
            "modification_id": analysis["ids"][0], "rollback_reason": "bench"}) as response:
        body = await response.json()
    elapsed = time.perf_counter() - started
    assert response.status == 200 and body["kind"] == ("revert" if later_work else "reset"), body
    return elapsed


async def main(rounds: int) -> None:
    """Print the rollback times, reset and revert, over the rounds."""
    with tempfile.TemporaryDirectory(prefix="selfmod-bench-") as folder:
        tmp = Path(folder)
        settings = api_settings(tmp, tmp / "root")
        await migrate(settings)
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                for later_work in (False, True):
                    times = []
                    for number in range(rounds):
                        repo = make_repo(tmp / "root" / f"repo-{int(later_work)}-{number}")
                        times.append(await _round(session, base, settings, repo, later_work))
                    kind = ("revert commit (work after it)" if later_work
                            else "reset (nothing after)")
                    times.sort()
                    median = statistics.median(times)
                    print(f"rollback through the API, {kind}: median {median:.3f} s, "
                          f"p90 {times[int(0.9 * (len(times) - 1))]:.3f} s, max {times[-1]:.3f} s "
                          f"over {rounds} rounds (goal < 1 s)")
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    asyncio.run(main(parser.parse_args().rounds))
