"""GET /: the status page, server-rendered HTML with an SVG chart and no build step.

Everything shown comes from the database, and any of it may have come from a repository or a
webhook, so every piece of text is escaped and only http(s) links are made clickable.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import utcnow
from bot.engine.record import SessionStore
from bot.store.models import CodeModification, Installation, ModificationSession, Repository
from bot.web.keys import ENGINE, SESSIONS

routes = web.RouteTableDef()

RECENT_SESSIONS = 20
RECENT_SUGGESTIONS = 50
CHART_DAYS = 30
# The stages a session passes through, in order (the PRD's modification_status).
STAGES = ("analyzing", "generating", "validating", "testing", "benchmarking", "proposing",
          "completed")
_CHART_W, _CHART_H, _PAD = 720, 260, 40
_COLOURS = {"proposed": "#4c78a8", "merged": "#54a24b", "rolled_back": "#e45756",
            "speedup": "#f58518"}


@dataclass(frozen=True)
class InstallationRow:
    """One installation and how many repositories it covers."""

    id: int
    account: str
    account_type: str | None
    repositories: int
    removed: bool


@dataclass(frozen=True)
class SessionRow:
    """One analysis session."""

    id: str
    repository: str
    status: str
    trigger: str | None
    commit_sha: str | None
    started_at: datetime | None
    completed_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class SuggestionRow:
    """One modification with its decision, speedup and pull request."""

    title: str
    rule_id: str | None
    status: str
    performance_impact: float | None
    safety_score: float | None
    pull_request_number: int | None
    pull_request_url: str | None
    created_at: datetime | None
    applied_at: datetime | None
    rollback_at: datetime | None


@dataclass(frozen=True)
class StatusSnapshot:
    """What the status page shows."""

    installations: Sequence[InstallationRow]
    sessions: Sequence[SessionRow]
    suggestions: Sequence[SuggestionRow]
    history: Sequence[SuggestionRow]
    now: datetime


@routes.get("/")
async def status_page(request: web.Request) -> web.Response:
    """Render the status page from the database."""
    # A session whose process died shows as failed, not as running for ever.
    await SessionStore(request.app[SESSIONS]).reap_abandoned()
    snapshot = await read_status(request.app[ENGINE], now=utcnow())
    return web.Response(text=build_status_html(snapshot), content_type="text/html",
                        charset="utf-8",
                        headers={"Content-Security-Policy": "default-src 'none'; "
                                 "style-src 'unsafe-inline'; img-src 'self' data:"})


async def read_status(engine: AsyncEngine, *, now: datetime) -> StatusSnapshot:
    """Read installations, recent sessions and suggestions, and the chart's history."""
    since = now - timedelta(days=CHART_DAYS)
    repo_count = (select(Repository.installation_id, func.count().label("n"))
                  .where(Repository.removed_at.is_(None))
                  .group_by(Repository.installation_id).subquery())
    async with engine.connect() as db:
        installations = [
            InstallationRow(row.id, row.account_login, row.account_type, int(row.n or 0),
                            row.deleted_at is not None)
            for row in await db.execute(
                select(Installation.id, Installation.account_login, Installation.account_type,
                       Installation.deleted_at, repo_count.c.n)
                .outerjoin(repo_count, repo_count.c.installation_id == Installation.id)
                .order_by(Installation.id))]
        sessions = [
            SessionRow(str(row.id), row.full_name or row.codebase_path, _text(row.status),
                       row.trigger, row.commit_sha, row.started_at, row.completed_at, row.error)
            for row in await db.execute(
                select(ModificationSession.id, ModificationSession.codebase_path,
                       ModificationSession.status, ModificationSession.trigger,
                       ModificationSession.commit_sha, ModificationSession.started_at,
                       ModificationSession.completed_at, ModificationSession.error,
                       Repository.full_name)
                .outerjoin(Repository, Repository.id == ModificationSession.repository_id)
                .order_by(ModificationSession.started_at.desc()).limit(RECENT_SESSIONS))]
        columns = (CodeModification.title, CodeModification.rule_id, CodeModification.status,
                   CodeModification.performance_impact, CodeModification.safety_score,
                   CodeModification.pull_request_number, CodeModification.pull_request_url,
                   CodeModification.created_at, CodeModification.applied_at,
                   CodeModification.rollback_at)
        suggestions = [_suggestion(row) for row in await db.execute(
            select(*columns).order_by(CodeModification.created_at.desc())
            .limit(RECENT_SUGGESTIONS))]
        history = [_suggestion(row) for row in await db.execute(
            select(*columns).where(CodeModification.created_at >= since)
            .where(CodeModification.pull_request_number.is_not(None)
                   | CodeModification.applied_at.is_not(None)))]
    return StatusSnapshot(installations, sessions, suggestions, history, now)


def _suggestion(row: Any) -> SuggestionRow:
    return SuggestionRow(row.title or "(untitled)", row.rule_id, str(row.status),
                         _float(row.performance_impact), _float(row.safety_score),
                         row.pull_request_number, row.pull_request_url, row.created_at,
                         row.applied_at, row.rollback_at)


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _text(value: object) -> str:
    return str(getattr(value, "value", value) or "")


def build_status_html(snapshot: StatusSnapshot) -> str:
    """Return the whole page; every value from the database is escaped."""
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>selfmod status</title><style>", _STYLE, "</style></head><body>",
        f"<h1>selfmod status</h1><p class=\"muted\">as of {_e(_when(snapshot.now))} UTC</p>",
        "<section id=\"installations\"><h2>Installations</h2>",
        _installations_table(snapshot.installations), "</section>",
        "<section id=\"chart\"><h2>Modifications over time</h2>",
        build_chart_svg(snapshot.history, now=snapshot.now), "</section>",
        "<section id=\"sessions\"><h2>Recent sessions</h2>",
        _sessions_table(snapshot.sessions), "</section>",
        "<section id=\"suggestions\"><h2>Suggestions</h2>",
        _suggestions_table(snapshot.suggestions), "</section>",
        "</body></html>\n",
    ])


_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
          "table{border-collapse:collapse;margin-bottom:1em}"
          "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left}"
          ".muted{color:#777}.stage{display:inline-block;padding:0 4px;margin-right:2px;"
          "border-radius:3px;background:#eee;color:#999;font-size:80%}"
          ".stage.done{background:#cde8c8;color:#222}.stage.now{background:#4c78a8;color:#fff}"
          ".stage.failed{background:#e45756;color:#fff}")


def _table(empty: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a table of already-escaped cells, or the empty note."""
    if not rows:
        return f"<p class=\"empty\">{empty}</p>"
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _installations_table(rows: Sequence[InstallationRow]) -> str:
    return _table("No installations yet.", ("Id", "Account", "Type", "Repositories", "State"), [
        (str(r.id), _e(r.account), _e(r.account_type or ""), str(r.repositories),
         "removed" if r.removed else "active") for r in rows])


def _sessions_table(rows: Sequence[SessionRow]) -> str:
    return _table("No sessions yet.", ("Repository", "Commit", "Trigger", "Stages", "Started",
                                       "Finished", "Error"), [
        (_e(r.repository), f"<code>{_e((r.commit_sha or '')[:10])}</code>", _e(r.trigger or ""),
         build_stages_html(r.status), _e(_when(r.started_at)), _e(_when(r.completed_at)),
         _e((r.error or "")[:200])) for r in rows])


def build_stages_html(status: str) -> str:
    """Return the stage strip of a session: done, current, and still to come."""
    if status in ("failed", "cancelled"):
        return f"<span class=\"stage failed\">{_e(status)}</span>"
    position = STAGES.index(status) if status in STAGES else -1
    parts = []
    for index, stage in enumerate(STAGES):
        state = "done" if index < position or status == "completed" else \
            "now" if index == position else "todo"
        parts.append(f"<span class=\"stage {state}\">{stage}</span>")
    if position < 0:
        parts.append(f"<span class=\"stage now\">{_e(status)}</span>")
    return "".join(parts)


def _suggestions_table(rows: Sequence[SuggestionRow]) -> str:
    return _table("No suggestions yet.", ("Suggestion", "Rule", "Decision", "Speedup", "Safety",
                                          "Pull request"), [
        (_e(r.title), _e(r.rule_id or ""), _e(r.status), _percent(r.performance_impact),
         "" if r.safety_score is None else f"{r.safety_score:.2f}",
         build_pull_link(r.pull_request_number, r.pull_request_url)) for r in rows])


def build_pull_link(number: int | None, url: str | None) -> str:
    """Return a link to the pull request; anything but an http(s) URL stays plain text."""
    if number is None and not url:
        return ""
    label = f"#{number}" if number is not None else "pull request"
    if url and urlsplit(url).scheme in ("http", "https"):
        return f"<a href=\"{_e(url)}\" rel=\"noopener noreferrer\">{_e(label)}</a>"
    return _e(label)


def build_chart_svg(history: Sequence[SuggestionRow], *, now: datetime,
                    days: int = CHART_DAYS) -> str:
    """Return an SVG of proposed, merged and rolled-back modifications per day, with speedups.

    Bars count the day's events; dots are the measured speedups of merged modifications (%),
    scaled on the right axis.
    """
    first = (now - timedelta(days=days - 1)).date()
    counts = {kind: [0] * days for kind in ("proposed", "merged", "rolled_back")}
    speedups: list[tuple[int, float, str]] = []
    for row in history:
        for kind, when in (("proposed", row.created_at if row.pull_request_number else None),
                           ("merged", row.applied_at), ("rolled_back", row.rollback_at)):
            day = _day_index(when, first, days)
            if day is not None:
                counts[kind][day] += 1
        day = _day_index(row.applied_at, first, days)
        if day is not None and row.performance_impact is not None:
            speedups.append((day, row.performance_impact, row.title))
    plot_w, plot_h = _CHART_W - 2 * _PAD, _CHART_H - 2 * _PAD
    top = max([1, *(n for series in counts.values() for n in series)])
    best = max([10.0, *(abs(s) for _, s, _ in speedups)])
    slot = plot_w / days
    bar = slot / 4
    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{_CHART_W}\" "
             f"height=\"{_CHART_H}\" viewBox=\"0 0 {_CHART_W} {_CHART_H}\" role=\"img\" "
             "aria-label=\"proposed, merged and rolled-back modifications per day\">",
             f"<line x1=\"{_PAD}\" y1=\"{_PAD + plot_h}\" x2=\"{_PAD + plot_w}\" "
             f"y2=\"{_PAD + plot_h}\" stroke=\"#999\"/>",
             f"<text x=\"{_PAD}\" y=\"{_PAD - 8}\" font-size=\"11\">{top} per day</text>",
             f"<text x=\"{_PAD + plot_w}\" y=\"{_PAD - 8}\" font-size=\"11\" "
             f"text-anchor=\"end\">speedup up to {best:.0f}%</text>"]
    for offset, kind in enumerate(("proposed", "merged", "rolled_back")):
        for day, count in enumerate(counts[kind]):
            if count:
                height = plot_h * count / top
                x = _PAD + day * slot + bar * (offset + 0.5)
                parts.append(
                    f"<rect class=\"{kind}\" x=\"{x:.1f}\" y=\"{_PAD + plot_h - height:.1f}\" "
                    f"width=\"{bar:.1f}\" height=\"{height:.1f}\" fill=\"{_COLOURS[kind]}\">"
                    f"<title>{kind.replace('_', ' ')}: {count} on "
                    f"{first + timedelta(days=day)}</title></rect>")
    for day, speedup, title in speedups:
        x = _PAD + (day + 0.5) * slot
        y = _PAD + plot_h / 2 - (plot_h / 2) * speedup / best
        parts.append(f"<circle class=\"speedup\" cx=\"{x:.1f}\" cy=\"{y:.1f}\" r=\"4\" "
                     f"fill=\"{_COLOURS['speedup']}\"><title>{_e(title)}: "
                     f"{speedup:+.1f}%</title></circle>")
    parts.append(f"<text x=\"{_PAD}\" y=\"{_CHART_H - 8}\" font-size=\"11\">{first}</text>")
    parts.append(f"<text x=\"{_PAD + plot_w}\" y=\"{_CHART_H - 8}\" font-size=\"11\" "
                 f"text-anchor=\"end\">{now.date()}</text>")
    for index, (kind, label) in enumerate((("proposed", "proposed"), ("merged", "merged"),
                                           ("rolled_back", "rolled back"),
                                           ("speedup", "speedup %"))):
        x = _PAD + 140 + index * 110
        parts.append(f"<rect x=\"{x}\" y=\"{_CHART_H - 19}\" width=\"10\" height=\"10\" "
                     f"fill=\"{_COLOURS[kind]}\"/><text x=\"{x + 14}\" y=\"{_CHART_H - 10}\" "
                     f"font-size=\"11\">{label}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _day_index(when: datetime | None, first: date, days: int) -> int | None:
    if when is None:
        return None
    index = (when.date() - first).days
    return index if 0 <= index < days else None


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:+.1f}%"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _e(value: str) -> str:
    return html.escape(value, quote=True)
