"""The /selfmod comment commands: the pure parser and the whole flow through the double."""

from __future__ import annotations

import json
import uuid

import pytest
from fakes.github import INSTALLATION_ID, RunningApp, load_webhook
from sqlalchemy import select

from bot.fakehub.server import FakeHub
from bot.github.commands import Command, CommandError, CommandName, parse_command
from bot.store.models import (
    CodeModification,
    Job,
    ModificationSession,
    Repository,
    WebhookDelivery,
)


class TestParseCommand:
    def test_plain_comment_is_not_a_command(self) -> None:
        """A comment that does not start with /selfmod is ignored."""
        assert parse_command("You are totally right!") is None

    def test_rollback_with_reason(self) -> None:
        """`/selfmod rollback <reason>` carries the reason."""
        assert parse_command("/selfmod rollback too slow\nmore") == Command(
            CommandName.ROLLBACK, "too slow")

    def test_rollback_without_reason_is_an_error(self) -> None:
        """A rollback without a reason is refused with an example."""
        assert isinstance(parse_command("/selfmod rollback"), CommandError)

    def test_unknown_command_is_an_error(self) -> None:
        """An unknown command gets the help text."""
        result = parse_command("/selfmod frobnicate")
        assert isinstance(result, CommandError) and "Unknown command" in result.reply

    def test_analyze_and_help(self) -> None:
        """analyze and help parse without arguments."""
        assert parse_command("/selfmod analyze") == Command(CommandName.ANALYZE, "")
        assert parse_command("  /SELFMOD help") == Command(CommandName.HELP, "")


async def _setup(hub: FakeHub, app: RunningApp) -> tuple[object, dict, uuid.UUID]:
    """A repository with a merged self-mod pull request #1 recorded in the database."""
    repo = await hub.add_repo("octo-org", "hello", installation_id=INSTALLATION_ID)
    # Derived from issue_comment.created.1: a comment on pull request #1 of our repository
    # (its API URLs name our repository too).
    data = json.loads(json.dumps(load_webhook("issue_comment.created.1")).replace(
        "/repos/Codertocat/Hello-World", "/repos/octo-org/hello"))
    data["repository"].update(id=repo.id, name="hello", full_name="octo-org/hello")
    data["repository"]["owner"]["login"] = "octo-org"
    data["installation"] = {"id": INSTALLATION_ID}
    data["issue"]["number"] = 1
    data["issue"]["pull_request"] = {"url": "derived"}
    hub.open_issue(repo, "self-mod: faster", "agent-self-modify[bot]")
    hub.issue(repo, 1).head = "self-mod/x"
    hub.issue(repo, 1).comments.append({"id": data["comment"]["id"], "user": "someone",
                                        "body": "", "created_at": "2020-01-01T00:00:00Z"})
    modification_id = uuid.uuid4()
    async with app.engine.begin() as connection:
        await connection.execute(Repository.__table__.insert().values(
            id=repo.id, full_name="octo-org/hello"))
        session_id = uuid.uuid4()
        await connection.execute(ModificationSession.__table__.insert().values(
            id=session_id, codebase_path="octo-org/hello", repository_id=repo.id))
        await connection.execute(CodeModification.__table__.insert().values(
            id=modification_id, session_id=session_id, file_path="a.py", status="applied",
            pull_request_number=1))
    return repo, data, modification_id


async def _rollback_jobs(app: RunningApp) -> list:
    async with app.engine.connect() as connection:
        return list((await connection.execute(
            select(Job).where(Job.kind == "rollback_modification"))).all())


async def test_rollback_from_reader_is_refused(running_app: RunningApp, fakehub: FakeHub) -> None:
    """A reader's `/selfmod rollback` gets a reply saying why, and no job."""
    repo, data, _ = await _setup(fakehub, running_app)
    fakehub.set_permission(repo, data["comment"]["user"]["login"], "read")
    data["comment"]["body"] = "/selfmod rollback slower"
    await running_app.deliver("issue_comment", "c1", data)
    await running_app.work()
    comments = fakehub.issue(repo, 1).comments
    assert "write, maintain or admin" in comments[-1]["body"]
    assert await _rollback_jobs(running_app) == []


async def test_rollback_from_bot_is_ignored(running_app: RunningApp, fakehub: FakeHub) -> None:
    """A bot's `/selfmod rollback` gets no reply, no reaction and no job."""
    repo, data, _ = await _setup(fakehub, running_app)
    # Derived: the same comment written by a bot account.
    data["comment"]["user"].update(login="ci[bot]", type="Bot")
    data["comment"]["body"] = "/selfmod rollback slower"
    await running_app.deliver("issue_comment", "c1", data)
    await running_app.work()
    assert len(fakehub.issue(repo, 1).comments) == 1 and fakehub.issue(repo, 1).reactions == []
    assert await _rollback_jobs(running_app) == []
    assert not any("/permission" in r["path"] for r in fakehub.state.requests)


async def test_rollback_from_writer_is_accepted(running_app: RunningApp,
                                                fakehub: FakeHub) -> None:
    """A writer's `/selfmod rollback` gets an eyes reaction and a recorded rollback job."""
    repo, data, modification_id = await _setup(fakehub, running_app)
    fakehub.set_permission(repo, data["comment"]["user"]["login"], "write")
    data["comment"]["body"] = "/selfmod rollback slower on big inputs"
    await running_app.deliver("issue_comment", "c1", data)
    await running_app.work()
    assert fakehub.issue(repo, 1).reactions == [{"comment_id": data["comment"]["id"],
                                                 "content": "eyes"}]
    jobs = await _rollback_jobs(running_app)
    assert len(jobs) == 1
    assert jobs[0].payload["modification_id"] == str(modification_id)
    assert jobs[0].payload["reason"] == "slower on big inputs"
    assert jobs[0].payload["reply_to"]["issue_number"] == 1


@pytest.mark.parametrize("body", ["/selfmod frobnicate", "/selfmod rollback"])
async def test_bad_command_from_writer_gets_reply(running_app: RunningApp, fakehub: FakeHub,
                                                  body: str) -> None:
    """An unknown or incomplete command gets a reply saying why."""
    repo, data, _ = await _setup(fakehub, running_app)
    fakehub.set_permission(repo, data["comment"]["user"]["login"], "admin")
    data["comment"]["body"] = body
    await running_app.deliver("issue_comment", "c1", data)
    await running_app.work()
    assert len(fakehub.issue(repo, 1).comments) == 2
    assert await _rollback_jobs(running_app) == []


async def test_retries_502_twice_then_succeeds(running_app: RunningApp,
                                               fakehub: FakeHub) -> None:
    """The double answering 502 twice to the reaction still ends with the reaction made."""
    repo, data, _ = await _setup(fakehub, running_app)
    fakehub.set_permission(repo, data["comment"]["user"]["login"], "write")
    fakehub.inject("POST", r".*/reactions", 502, times=2)
    data["comment"]["body"] = "/selfmod rollback slower"
    await running_app.deliver("issue_comment", "c1", data)
    await running_app.work()
    assert len(fakehub.issue(repo, 1).reactions) == 1
    assert len(await _rollback_jobs(running_app)) == 1


async def test_retries_secondary_rate_limit(running_app: RunningApp, fakehub: FakeHub) -> None:
    """A 403 secondary rate limit with Retry-After: 1 is waited out and succeeds."""
    repo, data, _ = await _setup(fakehub, running_app)
    fakehub.set_permission(repo, data["comment"]["user"]["login"], "write")
    fakehub.inject("GET", r".*/permission", 403, headers={"Retry-After": "1"},
                   message="You have exceeded a secondary rate limit.")
    data["comment"]["body"] = "/selfmod rollback slower"
    await running_app.deliver("issue_comment", "c1", data)
    await running_app.work()
    assert len(await _rollback_jobs(running_app)) == 1


async def test_permanent_404_is_recorded_not_retried(running_app: RunningApp,
                                                     fakehub: FakeHub) -> None:
    """A 404 from GitHub is recorded as the delivery's failure and dead-lettered, not retried."""
    _, data, _ = await _setup(fakehub, running_app)
    fakehub.inject("GET", r".*/permission", 404, times=100)
    data["comment"]["body"] = "/selfmod rollback slower"
    await running_app.deliver("issue_comment", "c1", data)
    await running_app.work()
    permission_calls = [r for r in fakehub.state.requests if r["path"].endswith("/permission")]
    assert len(permission_calls) == 1
    async with running_app.engine.connect() as connection:
        job = (await connection.execute(select(Job).where(Job.kind == "github_event"))).one()
    assert job.status == "dead" and job.attempts == 1
    assert "404" in job.last_error
    async with running_app.engine.connect() as connection:
        delivery = (await connection.execute(
            select(WebhookDelivery).where(WebhookDelivery.delivery_id == "c1"))).one()
    assert delivery.outcome == "failed"


async def test_command_without_installation_fails_once_and_quietly(
        running_app: RunningApp, fakehub: FakeHub) -> None:
    """A command on a delivery with no installation is dead-lettered at once: no reaction,
    no half-made reply, no job; a plain comment of that kind is still handled."""
    repo, data, _ = await _setup(fakehub, running_app)
    del data["installation"]  # derived: a repository webhook, not the App's
    data["comment"]["body"] = "/selfmod rollback slower"
    await running_app.deliver("issue_comment", "c1", data)
    plain = json.loads(json.dumps(data))
    plain["comment"]["body"] = "Looks good"
    await running_app.deliver("issue_comment", "c2", plain)
    await running_app.work()
    assert fakehub.state.requests == []
    assert fakehub.issue(repo, 1).reactions == [] and len(fakehub.issue(repo, 1).comments) == 1
    assert await _rollback_jobs(running_app) == []
    async with running_app.engine.connect() as connection:
        jobs = {row.payload["delivery_id"]: row for row in (await connection.execute(
            select(Job).where(Job.kind == "github_event"))).all()}
        outcomes = dict((await connection.execute(select(
            WebhookDelivery.delivery_id, WebhookDelivery.outcome))).all())
    assert (jobs["c1"].status, jobs["c1"].attempts) == ("dead", 1)
    assert "no installation" in jobs["c1"].last_error
    assert outcomes == {"c1": "failed", "c2": "handled"}
