"""App authentication: the App JWT's times and the installation-token cache, against the double."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import aiohttp
import jwt
import pytest
from fakes.github import APP_ID, INSTALLATION_ID, WEBHOOK_SECRET

from bot.fakehub.server import FakeHub, public_key_of
from bot.github.auth import GitHubApp, InstallationToken, build_app_jwt, parse_expiry
from bot.settings import GitHubAppSettings

ACCESS_TOKENS = f"/app/installations/{INSTALLATION_ID}/access_tokens"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _token_requests(hub: FakeHub) -> int:
    return sum(1 for r in hub.state.requests if r["path"] == ACCESS_TOKENS)


@pytest.fixture
def app_settings(fakehub: FakeHub, app_private_key: str) -> GitHubAppSettings:
    """Return App settings aimed at the double."""
    return GitHubAppSettings(APP_ID, app_private_key, WEBHOOK_SECRET, fakehub.base_url)


class TestAppJwt:
    def test_issued_a_minute_ago_and_expiring_within_ten_minutes(self,
                                                                 app_private_key: str) -> None:
        """The JWT's iat is 60 s before now and its exp at most 10 minutes after iat."""
        now = 1_700_000_000.0
        claims = jwt.decode(build_app_jwt(APP_ID, app_private_key, now=now),
                            public_key_of(app_private_key), algorithms=["RS256"],
                            options={"verify_exp": False, "verify_iat": False})
        assert claims["iat"] == int(now) - 60
        assert int(now) < claims["exp"] <= claims["iat"] + 600
        assert claims["iss"] == str(APP_ID)

    def test_signed_with_rs256(self, app_private_key: str) -> None:
        """The JWT names RS256 in its header."""
        token = build_app_jwt(APP_ID, app_private_key, now=time.time())
        assert jwt.get_unverified_header(token)["alg"] == "RS256"


class TestInstallationToken:
    def test_fresh_until_five_minutes_before_expiry(self) -> None:
        """A token stops being fresh 5 minutes before it expires."""
        token = InstallationToken("t", parse_expiry("2030-01-01T01:00:00Z"))
        assert token.is_fresh(datetime(2030, 1, 1, 0, 54, 59))
        assert not token.is_fresh(datetime(2030, 1, 1, 0, 55, 0))

    def test_expiry_is_naive_utc(self) -> None:
        """GitHub's Z timestamps and offsets become naive UTC datetimes."""
        assert parse_expiry("2030-01-01T01:00:00+01:00") == datetime(2030, 1, 1, 0, 0, 0)


async def test_token_is_cached_until_five_minutes_before_expiry(
        fakehub: FakeHub, app_settings: GitHubAppSettings) -> None:
    """One token serves until 5 minutes before its expiry; then a new one is asked for."""
    # Six-minute tokens: the renewal point is a minute away, where the App JWT is still
    # within the double's clock leeway.
    fakehub.token_lifetime = timedelta(minutes=6)
    clock = Clock()
    app = GitHubApp(app_settings, clock=clock)
    async with aiohttp.ClientSession() as session:
        first = await app.installation_token(session, INSTALLATION_ID)
        expires = fakehub.state.tokens[first][1]
        clock.now = expires.timestamp() - 5 * 60 - 1
        assert await app.installation_token(session, INSTALLATION_ID) == first
        assert _token_requests(fakehub) == 1
        clock.now = expires.timestamp() - 5 * 60
        second = await app.installation_token(session, INSTALLATION_ID)
    assert second != first and _token_requests(fakehub) == 2


async def test_concurrent_needs_share_one_request(fakehub: FakeHub,
                                                  app_settings: GitHubAppSettings) -> None:
    """Twenty callers needing one installation's token at once cause one token request."""
    app = GitHubApp(app_settings)
    async with aiohttp.ClientSession() as session:
        tokens = await asyncio.gather(*(app.installation_token(session, INSTALLATION_ID)
                                        for _ in range(20)))
    assert len(set(tokens)) == 1 and _token_requests(fakehub) == 1


async def test_failed_token_request_is_not_cached(fakehub: FakeHub,
                                                  app_settings: GitHubAppSettings) -> None:
    """A refused token request reaches every waiting caller, and the next call asks again."""
    app = GitHubApp(app_settings, backoff=0.01)
    fakehub.inject("POST", ACCESS_TOKENS, 404, times=1)
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(app.installation_token(session, INSTALLATION_ID)
                                         for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
        assert await app.installation_token(session, INSTALLATION_ID)
    assert _token_requests(fakehub) == 2


async def test_installation_api_acts_as_the_installation(
        fakehub: FakeHub, app_settings: GitHubAppSettings) -> None:
    """The installation client's calls carry the installation's token."""
    await fakehub.add_repo("octo-org", "hello", installation_id=INSTALLATION_ID)
    app = GitHubApp(app_settings)
    async with aiohttp.ClientSession() as session:
        gh = await app.installation_api(session, INSTALLATION_ID)
        repo = await gh.getitem("/repos/octo-org/hello")
    assert repo["full_name"] == "octo-org/hello"


def test_jwt_the_double_accepts(fakehub: FakeHub, app_settings: GitHubAppSettings) -> None:
    """The App's JWT passes the double's GitHub-like check; one with a 20-minute life fails."""
    app = GitHubApp(app_settings)
    assert fakehub.verify_app_jwt(app.app_jwt())
    now = int(time.time())
    too_long = jwt.encode({"iat": now - 60, "exp": now + 1200, "iss": str(APP_ID)},
                          app_settings.private_key, algorithm="RS256")
    assert not fakehub.verify_app_jwt(too_long)
