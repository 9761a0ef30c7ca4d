"""Recording deliveries in group commits: each caller learns its own outcome, nothing is lost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fakes.github import WEBHOOKS
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import utcnow
from bot.errors import PermanentJobError
from bot.github.dispatch import build_event_payload, read_event_data
from bot.github.intake import Delivery, DeliveryRecorder, build_delivery
from bot.store.models import Job, WebhookDelivery
from bot.store.queue import JobQueue

BODY = (Path(WEBHOOKS) / "push.0.json").read_text()


def _delivery(delivery_id: str, outcome: str = "queued") -> Delivery:
    return build_delivery("push", delivery_id, json.loads(BODY), BODY, outcome=outcome,
                          now=utcnow())


async def _count(engine: AsyncEngine, model: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def recorder(migrated_engine: AsyncEngine) -> Any:
    """Return a recorder on a fresh database's queue."""
    queue = JobQueue(migrated_engine)
    yield DeliveryRecorder(queue, max_batch=50)
    await queue.close()


async def test_concurrent_deliveries_are_all_recorded(recorder: DeliveryRecorder,
                                                      migrated_engine: AsyncEngine) -> None:
    """300 deliveries at once (several commits of at most 50) are each recorded with a job."""
    results = await asyncio.gather(*(recorder.record(_delivery(f"d{i}")) for i in range(300)))
    assert results == [True] * 300
    assert await _count(migrated_engine, WebhookDelivery) == 300
    assert await _count(migrated_engine, Job) == 300


async def test_duplicates_in_one_commit_are_told_apart(recorder: DeliveryRecorder,
                                                       migrated_engine: AsyncEngine) -> None:
    """The same id twice in one commit: the first is new, the second a redelivery."""
    first, second, other = await asyncio.gather(
        recorder.record(_delivery("same")), recorder.record(_delivery("same")),
        recorder.record(_delivery("other")))
    assert (first, second, other) == (True, False, True)
    assert await recorder.record(_delivery("same")) is False
    assert await _count(migrated_engine, Job) == 2


async def test_ignored_deliveries_get_no_job(recorder: DeliveryRecorder,
                                             migrated_engine: AsyncEngine) -> None:
    """A delivery no handler wants is recorded without a job."""
    assert await recorder.record(_delivery("x", outcome="ignored"))
    assert await _count(migrated_engine, Job) == 0
    async with migrated_engine.connect() as connection:
        row = (await connection.execute(select(WebhookDelivery))).one()
    assert (row.outcome, row.job_id, row.event) == ("ignored", None, "push")


async def test_a_failed_commit_fails_every_delivery_in_it(recorder: DeliveryRecorder,
                                                          migrated_engine: AsyncEngine) -> None:
    """When a commit fails, each of its callers gets the error and none of it is kept."""
    # No event name: the NOT NULL column refuses the row, and with it the whole commit.
    broken = Delivery("bad", None, None, None, None, "ignored", "{}", utcnow())  # type: ignore
    results = await asyncio.gather(recorder.record(_delivery("a")), recorder.record(broken),
                                   return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    assert await _count(migrated_engine, WebhookDelivery) == 0
    assert await recorder.record(_delivery("a")) is True


async def test_the_job_carries_the_raw_body(recorder: DeliveryRecorder,
                                            migrated_engine: AsyncEngine) -> None:
    """The job's payload holds the delivery's text, which reads back as the event."""
    await recorder.record(_delivery("d1"))
    async with migrated_engine.connect() as connection:
        job = (await connection.execute(select(Job))).one()
    assert job.payload["body"] == BODY
    assert read_event_data(job.payload) == json.loads(BODY)


class TestReadEventData:
    def test_reads_the_body(self) -> None:
        """A payload's body text is parsed."""
        assert read_event_data(build_event_payload("push", "d", body='{"a": 1}')) == {"a": 1}

    def test_reads_older_parsed_data(self) -> None:
        """A payload queued before bodies were kept (parsed `data`) still reads."""
        assert read_event_data({"event": "push", "delivery_id": "d", "data": {"a": 1}}) == {
            "a": 1}

    def test_bad_body_is_permanent(self) -> None:
        """A body that is not JSON, or no body at all, can never succeed."""
        with pytest.raises(PermanentJobError, match="not JSON"):
            read_event_data({"body": "{"})
        with pytest.raises(PermanentJobError, match="neither"):
            read_event_data({"event": "push"})
