"""Graceful shutdown of `selfmod serve`: requests in flight are answered, then it exits."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes.github import signed_headers
from selfmod_procs import Processes, wait_healthy

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_processes(tmp_path: Path, app_private_key: str, sqlite_url: str) -> Any:
    """Processes on a migrated SQLite file."""
    import asyncio as aio

    from bot.store.db import create_engine
    from bot.store.migrate import upgrade

    async def migrate() -> None:
        engine = create_engine(sqlite_url)
        await upgrade(engine)
        await engine.dispose()

    aio.run(migrate())
    procs = Processes(tmp_path, {"DATABASE_URL": sqlite_url, "GITHUB_APP_ID": "1",
                                 "GITHUB_PRIVATE_KEY": app_private_key,
                                 "GITHUB_WEBHOOK_SECRET": "webhook-secret-for-tests",
                                 "SELFMOD_SHUTDOWN_GRACE_SECONDS": "10"})
    yield procs
    procs.stop()


async def test_sigterm_drains_a_request_in_flight(sqlite_processes: Processes) -> None:
    """A delivery half sent when SIGTERM arrives is still answered; new ones are refused."""
    web = sqlite_processes.web("web")
    await wait_healthy(web)
    body = json.dumps({"zen": "Practicality beats purity.", "hook_id": 9}).encode()
    headers = signed_headers("ping", str(uuid.uuid4()), body)
    reader, writer = await asyncio.open_connection("127.0.0.1", web.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n{head}\r\n".encode() + body[:10])
    await writer.drain()
    await asyncio.sleep(0.5)  # the view is now waiting for the rest of the body
    web.signal(signal.SIGTERM)
    await asyncio.sleep(1.0)
    with pytest.raises(OSError):
        # The listening socket is closed at once: the load balancer sends new work elsewhere.
        await asyncio.open_connection("127.0.0.1", web.port)
    assert web.popen.poll() is None  # still draining
    writer.write(body[10:])
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), (answer[:200], web.log.read_text()[-3000:])
    assert b'"pong"' in answer
    assert await asyncio.to_thread(web.popen.wait, 15) == 0
