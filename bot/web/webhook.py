"""POST /webhook: verify, parse, record and enqueue a GitHub delivery, then answer at once."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import orjson
from aiohttp import web
from gidgethub import sansio
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.github.intake import build_delivery
from bot.github.router import is_handled
from bot.github.signature import is_valid_signature
from bot.metrics import process_metrics
from bot.web.keys import RECORDER, ROUTER, SETTINGS

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
    # Headers are not signed: GitHub's are short printable ASCII (an event name, a GUID).
    if not (_is_token(event_name) and _is_token(delivery_id)) or len(event_name) > 100:
        return _answer(400, "X-GitHub-Event and X-GitHub-Delivery must be printable ASCII")
    try:
        text = body.decode("utf-8")
        data = _parse_json(body, text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _answer(400, "the body is not JSON")
    if not isinstance(data, dict):
        return _answer(400, "the body is not a JSON object")
    event = sansio.Event(data, event=event_name, delivery_id=delivery_id)
    outcome = ("pong" if event_name == "ping"
               else "queued" if is_handled(request.app[ROUTER], event) else "ignored")
    # Recorded with its job before the answer: 202 means the delivery is in the database.
    try:
        recorded = await request.app[RECORDER].record(build_delivery(
            event_name, delivery_id, data, text, outcome=outcome, now=utcnow()))
    except (sqlite3.Error, SQLAlchemyError, OSError) as exc:
        # Nothing was kept: GitHub lists the delivery as failed, to be redelivered.
        log.error("delivery %s not recorded: %s: %s", delivery_id, exc.__class__.__name__, exc,
                  extra={"delivery_id": delivery_id})
        process_metrics().count_webhook(event_name[:100], "not_recorded")
        return _answer(503, "the database cannot record deliveries now; redeliver this one "
                       "later", delivery=delivery_id)
    process_metrics().count_webhook(event_name[:100], outcome if recorded else "duplicate")
    if not recorded:
        return _answer(200, "already received", delivery=delivery_id)
    if outcome == "pong":
        return _answer(200, "pong", delivery=delivery_id)
    return _answer(202, outcome, delivery=delivery_id)


def _is_token(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _parse_json(body: bytes, text: str) -> Any:
    # orjson parses a delivery in a third of the time; what it refuses and the standard
    # parser takes (NaN, Infinity) is parsed the standard way, as before.
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _answer(status: int, message: str, **extra: str) -> web.Response:
    return web.json_response({"status": status, "message": message, **extra}, status=status)


