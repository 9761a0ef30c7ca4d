"""GitHub API calls that survive 5xx answers and secondary rate limits."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from gidgethub.aiohttp import GitHubAPI

from bot.clock import utcnow
from bot.errors import GitHubError, PermanentJobError
from bot.metrics import process_metrics
from bot.store.ratelimit import SharedRateLimit

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 4
DEFAULT_BACKOFF_SECONDS = 0.5
# A wait longer than this is not worth holding a worker for: the job queue retries later.
MAX_WAIT_SECONDS = 60.0


class ForeignURLError(PermanentJobError):
    """A URL (from a payload or a Link header) points outside the configured GitHub API."""


def is_under(url: str, base_url: str) -> bool:
    """Tell whether an absolute URL lies under the API base URL."""
    base = base_url.rstrip("/") + "/"
    return url.startswith(base) or url == base[:-1]


def build_retry_delay(status: int, headers: Mapping[str, str], attempt: int, *, now: float,
                      backoff: float = DEFAULT_BACKOFF_SECONDS) -> float | None:
    """Return how long to wait before retrying this answer, or None when it is final.

    5xx answers back off exponentially; 403/429 are retried only when GitHub says they are
    rate limits (`Retry-After`, or `x-ratelimit-remaining: 0` with `x-ratelimit-reset`).
    """
    if status >= 500:
        return _bounded(_retry_after(headers, now) or backoff * 2 ** (attempt - 1))
    if status not in (403, 429):
        return None
    retry_after = _retry_after(headers, now)
    if retry_after is not None:
        return _bounded(retry_after)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            reset = float(headers["x-ratelimit-reset"])
        except ValueError:
            return None
        return _bounded(max(0.0, reset - now) + 1.0)
    if status == 429:
        return _bounded(backoff * 2 ** (attempt - 1))
    return None


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _bounded(seconds: float) -> float | None:
    return seconds if seconds <= MAX_WAIT_SECONDS else None


class RetryingGitHubAPI(GitHubAPI):
    """gidgethub's aiohttp client, retrying transient failures with backoff and a limit."""

    def __init__(self, session: aiohttp.ClientSession, requester: str, *,
                 attempts: int = DEFAULT_ATTEMPTS, backoff: float = DEFAULT_BACKOFF_SECONDS,
                 clock: Callable[[], float] = time.time,
                 limits: SharedRateLimit | None = None, limit_key: str = "app",
                 **kwargs: Any) -> None:
        super().__init__(session, requester, **kwargs)
        self._attempts = attempts
        self._backoff = backoff
        self._clock = clock
        self._limits = limits
        self._limit_key = limit_key

    async def _request(self, method: str, url: str, headers: Mapping[str, str],
                       body: bytes = b"") -> tuple[int, Mapping[str, str], bytes]:
        """Send the request, retrying what GitHub says is transient.

        URLs come from payloads; the token goes only to the configured API's host.
        """
        if not is_under(url, self.base_url):
            raise ForeignURLError(f"refusing to call {url.split('?')[0][:200]}: it is not "
                                  f"under the configured GitHub API {self.base_url}")
        attempt = 1
        while True:
            await self._respect_shared_limit()
            try:
                status, response_headers, data = await super()._request(
                    method, url, headers, body)
                process_metrics().observe_github_call(method, status, response_headers)
                if self._limits is not None:
                    await self._limits.observe(self._limit_key, response_headers, now=utcnow())
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt >= self._attempts:
                    raise
                delay: float | None = self._backoff * 2 ** (attempt - 1)
            else:
                delay = build_retry_delay(status, response_headers, attempt,
                                          now=self._clock(), backoff=self._backoff)
                if delay is None or attempt >= self._attempts:
                    return status, response_headers, data
                log.warning("GitHub answered %s to %s %s; retry %d in %.1fs",
                            status, method, url, attempt, delay)
            await self.sleep(delay or 0.0)
            attempt += 1

    async def _respect_shared_limit(self) -> None:
        """Wait when another process saw this installation's quota run out."""
        if self._limits is None:
            return
        wait = (await self._limits.wait_for(self._limit_key, now=utcnow())).total_seconds()
        if wait > MAX_WAIT_SECONDS:
            raise GitHubError(f"GitHub's rate limit for {self._limit_key} is used up for "
                              f"{wait:.0f} more seconds; the job is retried later")
        if wait > 0:
            log.warning("rate limit of %s used up; waiting %.1fs", self._limit_key, wait)
            await self.sleep(wait)
