"""JSON log lines carry the delivery, job and session ids of the work they belong to."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from bot.logs import ContextFilter, JsonFormatter, bind_log_context, log_context


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_ids_reach_every_line_inside_the_block() -> None:
    """A line logged inside log_context carries its ids; one outside carries none."""
    logger, stream = _capture()
    with log_context(delivery_id="d-1", job_id=7, unknown="dropped"):
        logger.info("inside")
    logger.info("outside")
    inside, outside = _lines(stream)
    assert (inside["delivery_id"], inside["job_id"]) == ("d-1", 7) and "unknown" not in inside
    assert "delivery_id" not in outside and "job_id" not in outside


def test_ids_passed_with_extra_win() -> None:
    """An id given on the call itself is kept over the context's."""
    logger, stream = _capture()
    with log_context(job_id=1):
        logger.info("line", extra={"job_id": 2})
    assert _lines(stream)[0]["job_id"] == 2


async def test_tasks_inherit_and_do_not_leak() -> None:
    """A session id bound inside a task reaches the tasks it starts, not its siblings."""
    logger, stream = _capture()

    async def job(name: str) -> None:
        with log_context(job_id=name):
            bind_log_context(session_id=f"s-{name}")
            await asyncio.ensure_future(asyncio.sleep(0))
            await asyncio.ensure_future(_log(logger, name))

    await asyncio.gather(job("a"), job("b"))
    logger.info("after")
    lines = {line["message"]: line for line in _lines(stream)}
    assert lines["a"]["session_id"] == "s-a" and lines["b"]["session_id"] == "s-b"
    assert "session_id" not in lines["after"]


async def _log(logger: logging.Logger, message: str) -> None:
    logger.info(message)
