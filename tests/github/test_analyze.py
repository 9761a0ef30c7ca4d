"""The analyze_repository job's replies to `/selfmod analyze` (the pipeline is not reached)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fakes.github import INSTALLATION_ID, RunningApp
from hubkit import settle
from sqlalchemy import select

from bot.errors import PermanentJobError
from bot.fakehub.server import FakeHub
from bot.github.analyze import AnalyzeRequest, build_analysis_reply
from bot.settings import Settings
from bot.store.models import Job

PERSON = "alice"


@pytest.fixture
def github_settings(github_settings: Settings, tmp_path: Path) -> Settings:
    """Keep the workspaces and the signing key in the test's folder."""
    return dataclasses.replace(github_settings, data_dir=tmp_path / "data")


async def test_failed_analysis_replies_where_it_was_asked(running_app: RunningApp,
                                                           fakehub: FakeHub) -> None:
    """An analysis that cannot fetch the code says so on the command's issue, with the retry."""
    repo = await fakehub.add_repo("octo-org", "empty", installation_id=INSTALLATION_ID)
    fakehub.set_permission(repo, PERSON, "write")
    issue = fakehub.open_issue(repo, "Analyse please", PERSON)
    command = await fakehub.comment(repo, issue.number, PERSON, "/selfmod analyze")
    await settle(running_app, fakehub)
    assert [r["content"] for r in issue.reactions] == ["eyes"]
    async with running_app.engine.connect() as connection:
        job = (await connection.execute(select(Job).where(
            Job.kind == "analyze_repository"))).one()
    assert job.payload["reply_to"]["comment_id"] == command["id"]
    assert job.payload["repository_url"] == fakehub.shapes.repo(repo)["url"]
    [reply] = [c["body"] for c in issue.comments if c["user"].endswith("[bot]")]
    assert reply.startswith("selfmod could not finish the analysis yet")
    assert "`/selfmod analyze`" in reply


def test_analysis_reply_lists_what_was_opened_and_skipped() -> None:
    """The done reply names the commit, the counts, each opened PR and each skipped one."""
    text = build_analysis_reply({
        "commit": "a" * 40, "suggestions": 3, "approved": 2, "reason": None,
        "proposed": [{"number": 7, "url": "http://x/pull/7"}],
        "skipped": [{"reason": "duplicate", "detail": "the same change is open"}]})
    assert text.splitlines() == ["Analysed aaaaaaaaaaaa: 3 suggestion(s), 2 approved.",
                                 "- opened #7: http://x/pull/7",
                                 "- not proposed (duplicate): the same change is open"]


def test_malformed_payload_is_permanent() -> None:
    """A job payload without its repository can never succeed."""
    with pytest.raises(PermanentJobError, match="bad analyze_repository payload"):
        AnalyzeRequest.parse({"installation_id": 1})
