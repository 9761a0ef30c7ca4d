"""The webhook's write path on SQLite: plain sqlite3 statements, off-loop waits, checkpoints."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import create_engine
from bot.store.migrate import upgrade
from bot.store.queue import JobQueue
from bot.store.statements import Statements, dump_json

NOW = datetime(2026, 11, 26, 12, 30, 15, 123456, tzinfo=UTC)


async def _engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'selfmod.db'}")
    await upgrade(engine)
    return engine


def _enqueue(queue: JobQueue, key: str) -> object:
    def work(statements: Statements) -> int:
        return queue.enqueue_with(statements, "kind", {"body": "ü \"quoted\"", "n": [1, 2]},
                                  now=NOW, key=key, group_key="g")
    return work


async def test_rows_read_back_as_sqlalchemy_wrote_them(tmp_path: Path) -> None:
    """Dates and JSON written through sqlite3 read back through SQLAlchemy unchanged."""
    engine = await _engine(tmp_path)
    queue = JobQueue(engine)
    try:
        job_id = await queue.write(_enqueue(queue, "k1"))
        assert await queue.write(_enqueue(queue, "k1")) == job_id  # same key: same job
        job = await queue.get(job_id)
        assert job.payload == {"body": "ü \"quoted\"", "n": [1, 2]}
        assert job.created_at.replace(tzinfo=UTC) == NOW
        assert (job.kind, job.key, job.group_key, job.status) == ("kind", "k1", "g", "queued")
    finally:
        await queue.close()
        await engine.dispose()


async def test_a_busy_database_is_waited_for_off_the_event_loop(tmp_path: Path) -> None:
    """While another connection holds the write lock, the write waits and the loop runs on."""
    engine = await _engine(tmp_path)
    queue = JobQueue(engine)
    other = sqlite3.connect(tmp_path / "selfmod.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.ensure_future(queue.write(_enqueue(queue, "k2")))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done() and ticks == 20
        other.execute("COMMIT")
        job_id = await asyncio.wait_for(write, 10)
        assert (await queue.get(job_id)).key == "k2"
        # With the lock free again, the next write goes straight through.
        assert await queue.write(_enqueue(queue, "k3")) == job_id + 1
    finally:
        other.close()
        await queue.close()
        await engine.dispose()


async def test_writes_are_checkpointed_into_the_database_file(tmp_path: Path) -> None:
    """The rows reach the database file itself, not only its write-ahead log."""
    engine = await _engine(tmp_path)
    queue = JobQueue(engine)
    # An open connection keeps SQLite from checkpointing when the queue's own ones close.
    reader = sqlite3.connect(tmp_path / "selfmod.db")
    try:
        reader.execute("SELECT 1 FROM jobs").fetchall()
        for n in range(50):
            await queue.write(_enqueue(queue, f"k{n}"))
        await queue.close()
        await engine.dispose()
        # A copy of the main file without its -wal holds only what was checkpointed.
        shutil.copy(tmp_path / "selfmod.db", tmp_path / "copy.db")
    finally:
        reader.close()
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("SELECT count(*) FROM jobs").fetchone()[0] == 50


def test_json_with_keys_orjson_refuses_is_still_written() -> None:
    """Integer keys fall back to the standard encoder, as SQLAlchemy would write them."""
    assert dump_json({1: "a"}) == '{"1": "a"}'
    assert dump_json({"a": [1, "é"]}) == '{"a":[1,"é"]}'
