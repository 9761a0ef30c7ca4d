"""Fixtures of the GitHub tests: the double, the app running against it, a seeded repository."""

# The double's fixtures are imported, so their names are parameters below as well.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from fakes.github import (  # noqa: F401
    INSTALLATION_ID,
    app_private_key,
    fakehub,
    github_request_log,
    github_settings,
    running_app,
)
from hubkit import HubRepo

from bot.fakehub.server import FakeHub
from bot.github.gitdata import RepoRef
from bot.github.retry import RetryingGitHubAPI


@pytest.fixture
async def hub_repo(fakehub: FakeHub) -> AsyncIterator[HubRepo]:
    """Return repository octo-org/graphs of the double with a.py and b.py on main."""
    repo = await fakehub.add_repo("octo-org", "graphs", installation_id=INSTALLATION_ID)
    token, _ = fakehub.issue_token(INSTALLATION_ID)
    async with aiohttp.ClientSession() as session:
        gh = RetryingGitHubAPI(session, "test", oauth_token=token, base_url=fakehub.base_url,
                               attempts=1)
        where = RepoRef.parse(repo.full_name, "main", fakehub.shapes.repo(repo)["url"])
        tree = await gh.post(where.api("/git/trees"), data={"tree": [
            {"path": name, "mode": "100644", "type": "blob", "content": f"{name} = 1\n"}
            for name in ("a.py", "b.py")]})
        root = await gh.post(where.api("/git/commits"), data={
            "message": "root", "tree": tree["sha"], "parents": [],
            "author": {"name": "dev", "email": "dev@example.com"}})
        await gh.post(where.api("/git/refs"), data={"ref": "refs/heads/main",
                                                    "sha": root["sha"]})
        yield HubRepo(fakehub, repo, gh, where, str(root["sha"]))
