"""The status page: what it shows, escaped, and as a browser renders it."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.clock import utcnow
from bot.engine.record import STALE_AFTER, running_marker
from bot.settings import load_settings
from bot.store.models import (
    CodeModification,
    Installation,
    ModificationSession,
    Repository,
)
from bot.web.app import create_app
from bot.web.status import (
    SuggestionRow,
    build_chart_svg,
    build_pull_link,
    build_stages_html,
    read_status,
)

EVIL = "<script>document.title='pwned'</script>"
PR_URL = "https://github.example/octo-org/graphs/pull/7"


async def _seed(engine: Any, now: datetime) -> None:
    """Write one installation, a repository, three sessions and four suggestions."""
    async with engine.begin() as db:
        await db.execute(Installation.__table__.insert().values(
            id=77, account_login="octo-org", account_type="Organization"))
        await db.execute(Repository.__table__.insert().values(
            id=5, installation_id=77, full_name="octo-org/graphs", default_branch="main"))
        sessions = []
        for minutes, status in ((30, "completed"), (20, "failed"), (5, "testing")):
            sessions.append(uuid.uuid4())
            await db.execute(ModificationSession.__table__.insert().values(
                id=sessions[-1], codebase_path="/w", repository_id=5, status=status,
                trigger="push", commit_sha="abcdef1234567890",
                started_at=now - timedelta(minutes=minutes),
                completed_at=None if status == "testing" else now - timedelta(minutes=1),
                error=EVIL if status == "failed" else None))
        rows = [
            ("Speed up breadth_first", "applied", Decimal("42.50"), 7, PR_URL,
             now - timedelta(days=2), now - timedelta(days=1), None),
            ("Use a set for lookups", "rolled_back", Decimal("12.00"), 8, PR_URL + "8",
             now - timedelta(days=3), now - timedelta(days=3), now - timedelta(days=2)),
            (EVIL, "proposed", None, 9, "javascript:alert(1)", now - timedelta(hours=2),
             None, None),
            ("Rename a private helper", "rejected", None, None, None, now, None, None),
        ]
        for title, status, impact, number, url, created, applied, rolled in rows:
            await db.execute(CodeModification.__table__.insert().values(
                id=uuid.uuid4(), session_id=sessions[0], file_path="graphs/walk.py",
                title=title, rule_id="perf.list-membership", status=status,
                performance_impact=impact, safety_score=Decimal("0.91"),
                pull_request_number=number, pull_request_url=url, created_at=created,
                applied_at=applied, rollback_at=rolled))


async def test_page_shows_what_the_database_holds(migrated_engine: Any, aiohttp_client: Any,
                                                  database_url: str) -> None:
    """Installations, sessions with stages, decisions, speedups and PR links are on the page."""
    await _seed(migrated_engine, utcnow())
    client = await aiohttp_client(create_app(load_settings({"DATABASE_URL": database_url})))
    answer = await client.get("/")
    page = await answer.text()
    assert answer.status == 200 and answer.content_type == "text/html"
    assert "octo-org" in page and "Organization" in page
    assert page.count("octo-org/graphs") >= 3
    assert '<span class="stage now">testing</span>' in page
    assert f'<a href="{PR_URL}" rel="noopener noreferrer">#7</a>' in page
    assert "+42.5%" in page and "rolled_back" in page and "rejected" in page
    assert "<svg" in page and 'class="merged"' in page and 'class="rolled_back"' in page


async def test_text_from_the_database_is_escaped(migrated_engine: Any, aiohttp_client: Any,
                                                 database_url: str) -> None:
    """A title or an error holding markup is shown as text, and odd links are not links."""
    await _seed(migrated_engine, utcnow())
    client = await aiohttp_client(create_app(load_settings({"DATABASE_URL": database_url})))
    page = await (await client.get("/")).text()
    assert "<script" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "javascript:" not in page


async def test_a_session_whose_process_died_shows_as_failed(
        migrated_engine: Any, aiohttp_client: Any, database_url: str) -> None:
    """A session in progress whose heartbeat stopped is closed when the page is read."""
    now = utcnow()
    async with migrated_engine.begin() as db:
        await db.execute(ModificationSession.__table__.insert().values(
            id=uuid.uuid4(), codebase_path="/w", status="benchmarking", trigger="push",
            report=running_marker(now - STALE_AFTER - timedelta(minutes=1))))
    client = await aiohttp_client(create_app(load_settings({"DATABASE_URL": database_url})))
    page = await (await client.get("/")).text()
    assert "abandoned: the process running it" in page
    assert '<span class="stage now">benchmarking</span>' not in page


async def test_empty_database_says_so(migrated_engine: Any) -> None:
    """With nothing recorded, each section says it is empty rather than failing."""
    from bot.web.status import build_status_html

    page = build_status_html(await read_status(migrated_engine, now=utcnow()))
    assert "No installations yet." in page and "No sessions yet." in page
    assert "No suggestions yet." in page and "<svg" in page


def test_chart_counts_events_per_day() -> None:
    """Each proposed, merged and rolled-back event is a bar on its day; speedups are dots."""
    now = datetime(2026, 3, 31, 12)
    day = timedelta(days=1)
    rows = [SuggestionRow("a", None, "applied", 20.0, 0.9, 1, PR_URL, now - 3 * day,
                          now - 2 * day, None),
            SuggestionRow("b", None, "rolled_back", 5.0, 0.9, 2, PR_URL, now - 3 * day,
                          now - 2 * day, now - day),
            SuggestionRow("old", None, "applied", 9.0, 0.9, 3, PR_URL, now - 90 * day,
                          now - 90 * day, None)]
    svg = build_chart_svg(rows, now=now)
    assert re.findall(r"<title>proposed: (\d+) on ([\d-]+)", svg) == [("2", "2026-03-28")]
    assert re.findall(r"<title>merged: (\d+) on ([\d-]+)", svg) == [("2", "2026-03-29")]
    assert re.findall(r"<title>rolled back: (\d+) on ([\d-]+)", svg) == [("1", "2026-03-30")]
    assert svg.count('class="speedup"') == 2 and "+20.0%" in svg


def test_stage_strip_marks_done_current_and_failed() -> None:
    """Stages before the current one are done; a failed session shows one red stage."""
    strip = build_stages_html("benchmarking")
    assert strip.count('class="stage done"') == 4
    assert '<span class="stage now">benchmarking</span>' in strip
    assert build_stages_html("failed") == '<span class="stage failed">failed</span>'
    assert build_stages_html("completed").count('class="stage done"') == 7


def test_only_http_links_are_clickable() -> None:
    """A pull request link is made only of an http(s) URL."""
    assert build_pull_link(3, "javascript:alert(1)") == "#3"
    assert build_pull_link(None, None) == ""
    assert build_pull_link(3, 'https://x.example/"onclick') == \
        '<a href="https://x.example/&quot;onclick" rel="noopener noreferrer">#3</a>'


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("headless Chromium is missing: scripts/setup installs Debian's chromium")
    return found


def _headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"chromium-{uuid.uuid4().hex[:6]}"
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_chromium_renders_the_page(migrated_engine: Any, database_url: str,
                                         tmp_path: Path) -> None:
    """Headless Chromium shows the tables and the chart, and runs no script from the data."""
    import asyncio

    await _seed(migrated_engine, utcnow())
    server = TestServer(create_app(load_settings({"DATABASE_URL": database_url})))
    await server.start_server()
    try:
        url = str(server.make_url("/"))
        dom = await asyncio.to_thread(_headless, tmp_path, "--dump-dom", url)
        shot = tmp_path / "status.png"
        picture = await asyncio.to_thread(_headless, tmp_path, f"--screenshot={shot}",
                                          "--window-size=1200,1600", url)
    finally:
        await server.close()
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # The title is the page's own: the stored <script> never ran.
    assert "<title>selfmod status</title>" in html and "pwned</title>" not in html
    assert re.search(r"<td>octo-org</td><td>Organization</td><td>1</td>", html)
    assert len(re.findall(r'<span class="stage now">testing</span>', html)) == 1
    assert f'href="{PR_URL}"' in html
    assert len(re.findall(r'<rect class="(?:proposed|merged|rolled_back)"', html)) >= 3
    assert picture.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
