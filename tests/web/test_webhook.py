"""POST /webhook: every real example, signatures, size limits, redelivery and concurrency."""

# The double's fixtures are imported from tests/fakes (tests/web has no conftest of ours),
# so their names are parameters below as well.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.github import (  # noqa: F401
    WEBHOOKS,
    RunningApp,
    app_private_key,
    fakehub,
    github_request_log,
    github_settings,
    load_webhook,
    running_app,
    signed_headers,
)
from sqlalchemy import func, select

from bot.store.models import Installation, Job, Repository, WebhookDelivery

EXAMPLES = sorted(p.stem for p in WEBHOOKS.glob("*.json"))
# What each real example should leave behind once its job ran.
HANDLED = {"installation", "installation_repositories", "push", "pull_request",
           "pull_request_review", "issue_comment", "check_suite"}


async def _count(app: RunningApp, model: Any, *where: Any) -> int:
    async with app.engine.connect() as connection:
        return int((await connection.execute(
            select(func.count()).select_from(model).where(*where))).scalar_one())


async def _jobs(app: RunningApp, kind: str) -> list[Job]:
    async with app.engine.connect() as connection:
        return list((await connection.execute(select(Job).where(Job.kind == kind))).all())


@pytest.mark.parametrize("name", EXAMPLES)
async def test_every_example_is_accepted_and_handled(running_app: RunningApp, name: str) -> None:
    """Each real example with a valid signature gets 2xx and its job runs without error."""
    event = name.split(".")[0]
    response = await running_app.deliver(event, f"d-{name}", load_webhook(name))
    assert response.status in (200, 202)
    await running_app.work()
    async with running_app.engine.connect() as connection:
        row = (await connection.execute(select(WebhookDelivery).where(
            WebhookDelivery.delivery_id == f"d-{name}"))).one()
        assert row.event == event
        if event == "ping":
            assert response.status == 200 and row.outcome == "pong"
        elif row.outcome == "ignored":
            assert response.status == 202 and row.job_id is None
            assert event not in HANDLED or name.startswith(("pull_request.opened",
                                                            "pull_request.synchronize"))
        else:
            job = (await connection.execute(select(Job).where(Job.id == row.job_id))).one()
            assert (job.status, row.outcome) == ("done", "handled"), job.last_error


async def test_installation_created_records_installation_and_repositories(
        running_app: RunningApp) -> None:
    """installation.created records the installation and its repositories."""
    data = load_webhook("installation.created.0")
    await running_app.deliver("installation", "d1", data)
    await running_app.work()
    assert await _count(running_app, Installation, Installation.id == 957387) == 1
    expected = len(data["repositories"])
    assert await _count(running_app, Repository, Repository.installation_id == 957387) == expected


async def test_installation_deleted_forgets_repositories(running_app: RunningApp) -> None:
    """installation.deleted marks the installation and its repositories as gone."""
    await running_app.deliver("installation", "d1", load_webhook("installation.created.0"))
    deleted = load_webhook("installation.deleted.0")
    deleted["installation"]["id"] = 957387  # derived: the deletion of the installation above
    await running_app.deliver("installation", "d2", deleted)
    await running_app.work()
    assert await _count(running_app, Installation, Installation.deleted_at.is_not(None)) == 1
    assert await _count(running_app, Repository, Repository.removed_at.is_(None)) == 0


async def test_repositories_added_and_removed(running_app: RunningApp) -> None:
    """installation_repositories added records repositories; removed forgets them."""
    added = load_webhook("installation_repositories.added.0")
    await running_app.deliver("installation_repositories", "d1", added)
    await running_app.work()
    ids = [r["id"] for r in added["repositories_added"]]
    assert await _count(running_app, Repository, Repository.id.in_(ids)) == len(ids)
    removed = load_webhook("installation_repositories.removed.0")
    removed["repositories_removed"] = added["repositories_added"]  # derived: remove those
    await running_app.deliver("installation_repositories", "d2", removed)
    await running_app.work()
    assert await _count(running_app, Repository, Repository.removed_at.is_(None)) == 0


async def test_push_to_default_branch_enqueues_analysis(running_app: RunningApp) -> None:
    """push.0 (to master, the default branch) enqueues one analysis session job."""
    data = load_webhook("push.0")
    await running_app.deliver("push", "d1", data)
    await running_app.work()
    jobs = await _jobs(running_app, "analyze_repository")
    assert len(jobs) == 1 and jobs[0].payload["commit_sha"] == data["after"]
    assert jobs[0].group_key == f"repository:{data['repository']['id']}"


async def test_tag_pushes_do_not_enqueue(running_app: RunningApp) -> None:
    """Tag pushes (push.1, push.2) start no analysis."""
    await running_app.deliver("push", "d1", load_webhook("push.1"))
    await running_app.deliver("push", "d2", load_webhook("push.2"))
    await running_app.work()
    assert await _jobs(running_app, "analyze_repository") == []


async def test_push_by_the_app_does_not_enqueue(running_app: RunningApp) -> None:
    """A push whose sender is the app's bot starts no analysis (no self-triggered loop)."""
    data = load_webhook("push.0")
    data["sender"]["login"] = "agent-self-modify[bot]"  # derived: pushed by the app
    data["sender"]["type"] = "Bot"
    await running_app.deliver("push", "d1", data)
    await running_app.work()
    assert await _jobs(running_app, "analyze_repository") == []


async def test_newer_push_supersedes_queued_one(running_app: RunningApp) -> None:
    """Two pushes in a row leave one queued analysis, for the newer commit."""
    first = load_webhook("push.0")
    second = load_webhook("push.0")
    second["before"], second["after"] = first["after"], "f" * 40  # derived: the next push
    await running_app.deliver("push", "d1", first)
    await running_app.deliver("push", "d2", second)
    await running_app.work()
    jobs = {j.payload["commit_sha"]: j.status for j in
            await _jobs(running_app, "analyze_repository")}
    assert jobs == {first["after"]: "superseded", "f" * 40: "queued"}


@pytest.mark.parametrize("name", EXAMPLES)
async def test_wrong_signature_is_refused(running_app: RunningApp, name: str) -> None:
    """Each example signed with the wrong secret gets 401 and records nothing."""
    response = await running_app.deliver(name.split(".")[0], f"bad-{name}",
                                         load_webhook(name), secret="wrong")
    assert response.status == 401
    assert await _count(running_app, WebhookDelivery) == 0
    assert await _count(running_app, Job) == 0


async def test_missing_signature_is_refused(running_app: RunningApp) -> None:
    """A delivery without X-Hub-Signature-256 gets 401."""
    response = await running_app.client.post("/webhook", data=b"{}", headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "x"})
    assert response.status == 401


async def test_malformed_json_is_400(running_app: RunningApp) -> None:
    """A correctly signed body that is not JSON gets 400."""
    body = b"{not json"
    response = await running_app.client.post("/webhook", data=body,
                                             headers=signed_headers("push", "x", body))
    assert response.status == 400


async def test_json_only_the_standard_parser_reads_is_accepted(running_app: RunningApp) -> None:
    """A body with NaN, which Python's parser reads and orjson refuses, is still recorded."""
    body = b'{"zen": "x", "hook_id": NaN}'
    response = await running_app.client.post("/webhook", data=body,
                                             headers=signed_headers("ping", "big", body))
    assert response.status == 200
    assert await _count(running_app, WebhookDelivery, WebhookDelivery.delivery_id == "big") == 1


async def test_non_utf8_body_is_400(running_app: RunningApp) -> None:
    """A correctly signed body that is not UTF-8 gets 400."""
    body = b'{"zen": "' + bytes([0xFF]) + b'"}'
    response = await running_app.client.post("/webhook", data=body,
                                             headers=signed_headers("push", "x", body))
    assert response.status == 400


async def test_a_database_that_cannot_record_gets_503_and_keeps_nothing(
        running_app: RunningApp) -> None:
    """When the delivery cannot be written, GitHub is told to try again and no job is left."""
    async with running_app.engine.begin() as connection:
        await connection.exec_driver_sql("DROP TABLE webhook_deliveries")
    response = await running_app.deliver("push", "lost-1", load_webhook("push.0"))
    assert response.status == 503
    assert "redeliver" in (await response.json())["message"]
    assert await _count(running_app, Job) == 0


@pytest.mark.parametrize(("event", "delivery"), [
    ("push\u00e9", "d1"), ("push", "d\udcff"), ("push", "d\t1"), ("p" * 101, "d1")])
async def test_headers_that_are_not_githubs_are_400(running_app: RunningApp, event: str,
                                                    delivery: str) -> None:
    """A signed body with an event or delivery header GitHub never sends gets 400, nothing kept."""
    body = b'{"zen": "x"}'
    headers = signed_headers("ping", "x", body)
    headers["X-GitHub-Event"], headers["X-GitHub-Delivery"] = event, delivery
    response = await running_app.client.post(
        "/webhook", data=body,
        headers={k: v.encode("utf-8", "surrogateescape").decode("latin-1")
                 for k, v in headers.items()})
    assert response.status == 400
    assert await _count(running_app, WebhookDelivery) == 0


async def test_an_escaped_lone_surrogate_in_the_action_is_recorded(
        running_app: RunningApp) -> None:
    """JSON allows "\\ud800"; the delivery is still recorded (the text made storable)."""
    data = load_webhook("push.0")
    data["action"] = "\ud800odd"
    response = await running_app.deliver("push", "surrogate", data)
    assert response.status == 202
    assert await _count(running_app, WebhookDelivery,
                        WebhookDelivery.delivery_id == "surrogate") == 1


async def test_missing_delivery_id_is_400(running_app: RunningApp) -> None:
    """A signed delivery without X-GitHub-Delivery gets 400."""
    body = b"{}"
    headers = signed_headers("push", "x", body)
    del headers["X-GitHub-Delivery"]
    response = await running_app.client.post("/webhook", data=body, headers=headers)
    assert response.status == 400


async def test_oversized_body_is_413(running_app: RunningApp) -> None:
    """A body over 25 MiB gets 413 before it is verified."""
    body = b"x" * (25 * 1024 * 1024 + 1)
    response = await running_app.client.post("/webhook", data=body,
                                             headers=signed_headers("push", "big", body))
    assert response.status == 413


async def test_redelivery_is_processed_once(running_app: RunningApp) -> None:
    """The same delivery id twice records one delivery and one job."""
    data = load_webhook("push.0")
    first = await running_app.deliver("push", "same", data)
    second = await running_app.deliver("push", "same", data)
    assert (first.status, second.status) == (202, 200)
    await running_app.work()
    assert await _count(running_app, WebhookDelivery) == 1
    assert len(await _jobs(running_app, "github_event")) == 1
    assert len(await _jobs(running_app, "analyze_repository")) == 1


async def test_concurrent_deliveries_are_all_recorded(running_app: RunningApp) -> None:
    """200 deliveries sent at once are all recorded, each with its job."""
    data = load_webhook("push.0")
    ids = [str(uuid.uuid4()) for _ in range(200)]
    answers = await asyncio.gather(*(running_app.deliver("push", i, data) for i in ids))
    assert [a.status for a in answers] == [202] * 200
    assert await _count(running_app, WebhookDelivery) == 200
    assert len(await _jobs(running_app, "github_event")) == 200


def test_example_folder_is_complete() -> None:
    """All 33 real examples are found (the parametrised tests cover each)."""
    assert len(EXAMPLES) == 33 and Path(WEBHOOKS).is_dir()


