"""GitHub App authentication: the App JWT and cached installation access tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
from gidgethub.abc import GitHubAPI

from bot.github.retry import RetryingGitHubAPI
from bot.settings import GitHubAppSettings
from bot.store.ratelimit import SharedRateLimit

# Issued in the past so that a clock a little ahead of GitHub's is not refused.
JWT_BACKDATE_SECONDS = 60
# GitHub refuses an App JWT that lives longer than 10 minutes.
JWT_LIFETIME_SECONDS = 9 * 60
# A token is renewed this long before it expires, so no call starts with a dying token.
TOKEN_MARGIN = timedelta(minutes=5)
REQUESTER = "agent-self-modify"


def build_app_jwt(app_id: int, private_key: str, *, now: float) -> str:
    """Return the App's RS256 JWT: issued 60 s ago, expiring within 10 minutes."""
    payload = {"iat": int(now) - JWT_BACKDATE_SECONDS,
               "exp": int(now) + JWT_LIFETIME_SECONDS, "iss": str(app_id)}
    return jwt.encode(payload, private_key, algorithm="RS256")


@dataclass(frozen=True)
class InstallationToken:
    """An installation access token and when it stops working."""

    token: str
    expires_at: datetime

    def is_fresh(self, now: datetime) -> bool:
        """Tell whether the token is still good for more than the renewal margin."""
        return now < self.expires_at - TOKEN_MARGIN


def parse_expiry(text: str) -> datetime:
    """Turn GitHub's `expires_at` (ISO 8601, Z) into a naive UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(
        tzinfo=None)


class GitHubApp:
    """Hands out API clients as the App or as an installation, caching installation tokens.

    The cache outlives any one HTTP session, so callers pass the session they hold.
    """

    def __init__(self, settings: GitHubAppSettings, *,
                 clock: Callable[[], float] = time.time, backoff: float = 0.5,
                 limits: SharedRateLimit | None = None) -> None:
        self._settings = settings
        self._limits = limits
        self._clock = clock
        self._backoff = backoff
        self._tokens: dict[int, InstallationToken] = {}
        self._pending: dict[int, asyncio.Future[InstallationToken]] = {}

    def app_api(self, session: aiohttp.ClientSession) -> GitHubAPI:
        """Return a client that authenticates as the App (pass `jwt=` per call)."""
        return RetryingGitHubAPI(session, REQUESTER, base_url=self._settings.api_url,
                                 backoff=self._backoff, limits=self._limits, limit_key="app")

    def app_jwt(self) -> str:
        """Return a fresh App JWT."""
        return build_app_jwt(self._settings.app_id, self._settings.private_key,
                             now=self._clock())

    async def installation_api(self, session: aiohttp.ClientSession,
                               installation_id: int) -> GitHubAPI:
        """Return a client that acts as the installation."""
        token = await self.installation_token(session, installation_id)
        return RetryingGitHubAPI(session, REQUESTER, oauth_token=token,
                                 base_url=self._settings.api_url, backoff=self._backoff,
                                 limits=self._limits,
                                 limit_key=f"installation:{installation_id}")

    async def installation_token(self, session: aiohttp.ClientSession,
                                 installation_id: int) -> str:
        """Return a token for the installation; concurrent callers share one request."""
        now = datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)
        cached = self._tokens.get(installation_id)
        if cached is not None and cached.is_fresh(now):
            return cached.token
        pending = self._pending.get(installation_id)
        if pending is None:
            pending = asyncio.ensure_future(self._request_token(session, installation_id))
            self._pending[installation_id] = pending
            pending.add_done_callback(lambda _: self._pending.pop(installation_id, None))
        return (await asyncio.shield(pending)).token

    async def _request_token(self, session: aiohttp.ClientSession,
                             installation_id: int) -> InstallationToken:
        answer = await self.app_api(session).post(
            "/app/installations/{installation_id}/access_tokens",
            {"installation_id": str(installation_id)}, data=b"", jwt=self.app_jwt())
        token = InstallationToken(answer["token"], parse_expiry(answer["expires_at"]))
        self._tokens[installation_id] = token
        return token
