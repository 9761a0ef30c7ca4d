"""POST /webhook: verify, parse, record and enqueue a GitHub delivery, then answer at once."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, cast

from aiohttp import web
from gidgethub import sansio
from sqlalchemy import Connection, Table, TextClause

from bot.clock import utcnow
from bot.github.dispatch import GITHUB_EVENT_JOB, build_event_payload
from bot.github.router import is_handled
from bot.github.signature import is_valid_signature
from bot.metrics import process_metrics
from bot.store.db import build_insert_ignore
from bot.store.models import WebhookDelivery
from bot.web.keys import QUEUE, ROUTER, SETTINGS

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

# GitHub caps webhook payloads at 25 MB.
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024


@routes.post("/webhook")
async def webhook(request: web.Request) -> web.Response:
    """Receive one delivery: 401 unsigned, 400 malformed, 200 ping, 202 queued or ignored."""
    github = request.app[SETTINGS].github
    if github is None:
        return _answer(503, "the GitHub App is not configured")
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        return _answer(413, "payload larger than 25 MiB")
    body = await request.read()
    # The signature is checked on the raw bytes before anything is parsed.
    if not is_valid_signature(body, request.headers.get("X-Hub-Signature-256"),
                              github.webhook_secret):
        process_metrics().count_webhook(request.headers.get("X-GitHub-Event", "")[:100],
                                        "bad_signature")
        return _answer(401, "missing or wrong X-Hub-Signature-256")
    event_name = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    if not event_name or not delivery_id or len(delivery_id) > 100:
        return _answer(400, "X-GitHub-Event and X-GitHub-Delivery are required")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _answer(400, "the body is not JSON")
    if not isinstance(data, dict):
        return _answer(400, "the body is not a JSON object")
    event = sansio.Event(data, event=event_name, delivery_id=delivery_id)
    outcome = ("pong" if event_name == "ping"
               else "queued" if is_handled(request.app[ROUTER], event) else "ignored")
    recorded = await _record(request.app, event, outcome)
    process_metrics().count_webhook(event_name[:100], outcome if recorded else "duplicate")
    if not recorded:
        return _answer(200, "already received", delivery=delivery_id)
    if outcome == "pong":
        return _answer(200, "pong", delivery=delivery_id)
    return _answer(202, outcome, delivery=delivery_id)


async def _record(app: web.Application, event: sansio.Event, outcome: str) -> bool:
    """Record the delivery and its job in one transaction; False when seen before."""
    queue = app[QUEUE]
    data: dict[str, Any] = event.data
    now = utcnow()

    def record(connection: Connection) -> bool:
        job_id = None
        if outcome == "queued":
            job_id = queue.enqueue_in(
                connection, GITHUB_EVENT_JOB,
                build_event_payload(event.event, event.delivery_id, data),
                now=now, key=f"delivery:{event.delivery_id}")
        recorded = connection.execute(_insert_delivery(), {
            "delivery_id": event.delivery_id, "event": event.event,
            "action": _text(data.get("action")), "installation_id": _id(data.get("installation")),
            "repository_id": _id(data.get("repository")), "received_at": now,
            "outcome": outcome, "job_id": job_id,
        })
        return recorded.scalar_one_or_none() is not None

    return await queue.transaction(record)


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
    return value[:100] if isinstance(value, str) else None


def _answer(status: int, message: str, **extra: str) -> web.Response:
    return web.json_response({"status": status, "message": message, **extra}, status=status)


