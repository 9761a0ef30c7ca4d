"""Fixtures that start the GitHub double and the app against it (import them in a conftest)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.jobs import build_job_handlers
from bot.engine.worker import Worker
from bot.fakehub.contract import check_log
from bot.fakehub.routes import build_app
from bot.fakehub.server import FakeHub
from bot.github.retry import RetryingGitHubAPI
from bot.github.signature import build_signature
from bot.settings import Settings, load_settings
from bot.store.db import create_engine
from bot.store.migrate import upgrade
from bot.store.queue import JobQueue
from bot.web.app import create_app

APP_ID = 4242
INSTALLATION_ID = 77
WEBHOOK_SECRET = "webhook-secret-for-tests"
WEBHOOKS = Path(__file__).resolve().parents[3] / "shared" / "github" / "webhooks"
REAL_API_URL = "https://api.github.com"


def load_webhook(name: str) -> dict[str, Any]:
    """Return a real webhook example by file stem, e.g. `push.0`."""
    data: dict[str, Any] = json.loads((WEBHOOKS / f"{name}.json").read_text())
    return data


def point_at(data: Any, api_url: str) -> Any:
    """Return a payload whose GitHub API URLs name `api_url` instead of api.github.com.

    The app calls the URLs a payload carries (and refuses any outside its configured API),
    so a real example delivered to an app that talks to the double names the double, as a
    GitHub Enterprise server's payloads name that server. The example files stay unchanged;
    the double's own webhooks already carry its URLs.
    """
    return json.loads(json.dumps(data).replace(f'"{REAL_API_URL}/', f'"{api_url}/'))


def signed_headers(event: str, delivery_id: str, body: bytes,
                   secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Return the headers GitHub sends with a delivery."""
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": build_signature(body, secret),
            "Content-Type": "application/json"}


def installation_client(hub: FakeHub, session: aiohttp.ClientSession, *,
                        attempts: int = 1) -> RetryingGitHubAPI:
    """Return a client acting as the test installation, with a fresh token of the double."""
    token, _ = hub.issue_token(INSTALLATION_ID)
    return RetryingGitHubAPI(session, "test", oauth_token=token, base_url=hub.base_url,
                             attempts=attempts, backoff=0.01)


async def seed_main(gh: Any, repo_url: str, files: dict[str, str], **extra: Any) -> str:
    """Make `files` the first commit of main through the Git Data API; return the commit."""
    tree = await gh.post(repo_url + "/git/trees", data={"tree": [
        {"path": path, "mode": "100644", "type": "blob", "content": content}
        for path, content in files.items()]})
    root = await gh.post(repo_url + "/git/commits", data={
        "message": "root", "tree": tree["sha"], "parents": [], **extra})
    await gh.post(repo_url + "/git/refs", data={"ref": "refs/heads/main", "sha": root["sha"]})
    return str(root["sha"])


@pytest.fixture(scope="session")
def app_private_key() -> str:
    """Return a fresh RSA private key for the App (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="session")
def github_request_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Collect every request made to the double in this session, then check the contract."""
    path = tmp_path_factory.mktemp("contract") / "requests.jsonl"
    yield path
    problems = check_log(path)
    if problems:
        pytest.fail("requests outside GitHub's OpenAPI description:\n" + "\n".join(problems))


@pytest.fixture
async def fakehub(tmp_path: Path, app_private_key: str, github_request_log: Path,
                  aiohttp_server: Any) -> FakeHub:
    """Start the GitHub double with one installation (no repositories yet)."""
    hub = FakeHub(repos_dir=tmp_path / "hub", app_id=APP_ID, app_key=app_private_key,
                  webhook_url=None, webhook_secret=WEBHOOK_SECRET,
                  request_log=github_request_log)
    server = await aiohttp_server(build_app(hub))
    hub.set_base_url(str(server.make_url("")).rstrip("/"))
    hub.add_installation(INSTALLATION_ID, "octo-org", [])
    return hub


@pytest.fixture
def github_settings(fakehub: FakeHub, app_private_key: str, database_url: str) -> Settings:
    """Return settings that point the app at the double and a fresh database."""
    return load_settings({"DATABASE_URL": database_url, "GITHUB_APP_ID": str(APP_ID),
                          "GITHUB_PRIVATE_KEY": app_private_key,
                          "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
                          "GITHUB_API_URL": fakehub.base_url})


class RunningApp:
    """The web app serving webhooks, plus a worker that runs the queued jobs on demand."""

    def __init__(self, client: Any, engine: AsyncEngine, worker: Worker,
                 api_url: str) -> None:
        self.client = client
        self.engine = engine
        self.worker = worker
        self.api_url = api_url

    async def deliver(self, event: str, delivery_id: str, data: Any, *,
                      secret: str = WEBHOOK_SECRET) -> Any:
        """POST a signed delivery (its API URLs pointed at the double) and return the response."""
        body = json.dumps(point_at(data, self.api_url)).encode()
        return await self.client.post("/webhook", data=body,
                                      headers=signed_headers(event, delivery_id, body, secret))

    async def work(self) -> int:
        """Run every due job the worker has a handler for; return how many ran."""
        return await self.worker.run(once=True)


@pytest.fixture
async def running_app(github_settings: Settings, fakehub: FakeHub,
                      aiohttp_client: Any) -> AsyncIterator[RunningApp]:
    """Serve the app on the double's webhook URL, on a migrated database."""
    engine = create_engine(github_settings.database_url)
    await upgrade(engine)
    client = await aiohttp_client(create_app(github_settings))
    fakehub.webhook_url = str(client.make_url("/webhook"))
    queue = JobQueue(engine)
    worker = Worker(queue, build_job_handlers(github_settings, engine), worker_id="test-worker",
                    poll_seconds=0.05)
    try:
        yield RunningApp(client, engine, worker, fakehub.base_url)
    finally:
        await fakehub.drain()
        await queue.close()
        await engine.dispose()
