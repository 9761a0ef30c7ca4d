"""Recording webhook deliveries with their jobs, many deliveries to one database commit."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, TextClause

from bot.github.dispatch import GITHUB_EVENT_JOB, build_event_payload
from bot.store.db import build_insert_ignore
from bot.store.models import WebhookDelivery
from bot.store.queue import JobQueue
from bot.store.statements import Statements

# One transaction holds at most this many deliveries, so one commit stays short.
MAX_BATCH = 256


@dataclass(frozen=True)
class Delivery:
    """What is recorded of one verified delivery; `body` is its raw JSON text."""

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repository_id: int | None
    outcome: str
    body: str
    received_at: datetime

    @property
    def is_queued(self) -> bool:
        """Tell whether the delivery gets a `github_event` job."""
        return self.outcome == "queued"


def build_delivery(event: str, delivery_id: str, data: dict[str, Any], body: str, *,
                   outcome: str, now: datetime) -> Delivery:
    """Return the record of a parsed delivery."""
    return Delivery(delivery_id, event, _text(data.get("action")),
                    _id(data.get("installation")), _id(data.get("repository")), outcome, body,
                    now)


def write_delivery(statements: Statements, queue: JobQueue, delivery: Delivery) -> bool:
    """Insert the delivery (and its job) in the caller's transaction; False when seen before."""
    job_id = None
    if delivery.is_queued:
        job_id = queue.enqueue_with(
            statements, GITHUB_EVENT_JOB,
            build_event_payload(delivery.event, delivery.delivery_id, body=delivery.body),
            now=delivery.received_at, key=f"delivery:{delivery.delivery_id}")
    recorded = statements.scalar(_insert_delivery(), {
        "delivery_id": delivery.delivery_id, "event": delivery.event,
        "action": delivery.action, "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id, "received_at": delivery.received_at,
        "outcome": delivery.outcome, "job_id": job_id,
    })
    return recorded is not None


class DeliveryRecorder:
    """Writes deliveries in group commits: requests arriving while a commit runs share the next.

    Each caller waits for the commit that holds its delivery, so an answer of 202 still
    means recorded; a failed commit fails every delivery in it (GitHub then redelivers).
    There is no timer: alone, a delivery is written at once.
    """

    def __init__(self, queue: JobQueue, *, max_batch: int = MAX_BATCH) -> None:
        self._queue = queue
        self._max_batch = max_batch
        self._waiting: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, delivery: Delivery) -> bool:
        """Record the delivery; True when it is new, False when its id was seen before."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, answer))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_all())
        return await asyncio.shield(answer)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:self._max_batch]
                del self._waiting[:self._max_batch]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: Sequence[tuple[Delivery, asyncio.Future[bool]]]) -> None:
        deliveries = [delivery for delivery, _ in batch]
        try:
            results = await self._queue.write(functools.partial(
                _write_batch, queue=self._queue, deliveries=deliveries))
        except BaseException as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, answer), result in zip(batch, results, strict=True):
            if not answer.done():
                answer.set_result(result)


def _write_batch(statements: Statements, *, queue: JobQueue,
                 deliveries: Sequence[Delivery]) -> list[bool]:
    return [write_delivery(statements, queue, delivery) for delivery in deliveries]


@functools.cache
def _insert_delivery() -> TextClause:
    table = cast(Table, WebhookDelivery.__table__)
    return build_insert_ignore(table, ("delivery_id", "event", "action", "installation_id",
                                       "repository_id", "received_at", "outcome", "job_id"),
                               conflict="delivery_id", returning="id")


def _id(value: Any) -> int | None:
    if isinstance(value, dict) and isinstance(value.get("id"), int):
        return int(value["id"])
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    # JSON may escape a lone surrogate ("\ud800"), which no database can store as text.
    return value[:100].encode("utf-8", "replace").decode("utf-8")
