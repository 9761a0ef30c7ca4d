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
    installation_client,
    running_app,
    seed_main,
)
from hubkit import HubRepo

from bot.fakehub.server import FakeHub
from bot.github.gitdata import RepoRef


@pytest.fixture
async def hub_repo(fakehub: FakeHub) -> AsyncIterator[HubRepo]:
    """Return repository octo-org/graphs of the double with a.py and b.py on main."""
    repo = await fakehub.add_repo("octo-org", "graphs", installation_id=INSTALLATION_ID)
    where = RepoRef.parse(repo.full_name, "main", fakehub.shapes.repo(repo)["url"])
    async with aiohttp.ClientSession() as session:
        gh = installation_client(fakehub, session)
        files = {name: f"{name} = 1\n" for name in ("a.py", "b.py")}
        root = await seed_main(gh, where.api(), files,
                               author={"name": "dev", "email": "dev@example.com"})
        yield HubRepo(fakehub, repo, gh, where, root)
