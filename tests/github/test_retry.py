"""Retries of GitHub calls: the pure delay rule, and the client against the double's faults."""

from __future__ import annotations

import email.utils

import aiohttp
import gidgethub
import pytest
from fakes.github import INSTALLATION_ID, installation_client

from bot.fakehub.server import FakeHub
from bot.github.retry import (
    MAX_WAIT_SECONDS,
    ForeignURLError,
    RetryingGitHubAPI,
    build_retry_delay,
    is_under,
)

NOW = 1_700_000_000.0


class TestBuildRetryDelay:
    def test_server_errors_back_off_exponentially(self) -> None:
        """5xx answers wait backoff, 2x backoff, 4x backoff on attempts 1, 2, 3."""
        assert [build_retry_delay(502, {}, n, now=NOW, backoff=0.5) for n in (1, 2, 3)] == [
            0.5, 1.0, 2.0]

    def test_retry_after_seconds_is_honoured(self) -> None:
        """A 403 with Retry-After: 7 waits 7 seconds."""
        assert build_retry_delay(403, {"retry-after": "7"}, 1, now=NOW) == 7.0

    def test_retry_after_date_is_honoured(self) -> None:
        """Retry-After as an HTTP date waits until that moment."""
        when = email.utils.formatdate(NOW + 12, usegmt=True)
        assert build_retry_delay(429, {"retry-after": when}, 1, now=NOW) == pytest.approx(12)

    def test_retry_after_on_a_server_error_wins_over_backoff(self) -> None:
        """A 503 with Retry-After waits what GitHub says, not the backoff."""
        assert build_retry_delay(503, {"retry-after": "3"}, 1, now=NOW, backoff=0.5) == 3.0

    def test_rate_limit_reset_is_honoured(self) -> None:
        """An exhausted rate limit waits until x-ratelimit-reset, plus a second."""
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 20)}
        assert build_retry_delay(403, headers, 1, now=NOW) == 21.0

    def test_reset_in_the_past_waits_a_second(self) -> None:
        """A reset time already passed waits only the one-second margin."""
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 20)}
        assert build_retry_delay(403, headers, 1, now=NOW) == 1.0

    def test_unreadable_reset_is_final(self) -> None:
        """An x-ratelimit-reset that is not a number is not guessed at."""
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon"}
        assert build_retry_delay(403, headers, 1, now=NOW) is None

    def test_unreadable_retry_after_falls_back(self) -> None:
        """A Retry-After that is neither seconds nor a date is ignored (5xx backs off)."""
        assert build_retry_delay(502, {"retry-after": "later"}, 1, now=NOW,
                                 backoff=0.5) == 0.5
        assert build_retry_delay(403, {"retry-after": "later"}, 1, now=NOW) is None

    def test_plain_forbidden_is_final(self) -> None:
        """A 403 that is not a rate limit is not retried."""
        assert build_retry_delay(403, {"x-ratelimit-remaining": "4999"}, 1, now=NOW) is None

    def test_too_many_requests_without_headers_backs_off(self) -> None:
        """A 429 without timing headers backs off like a 5xx."""
        assert build_retry_delay(429, {}, 2, now=NOW, backoff=0.5) == 1.0

    @pytest.mark.parametrize("status", [400, 401, 404, 422])
    def test_client_errors_are_final(self, status: int) -> None:
        """Other 4xx answers are final."""
        assert build_retry_delay(status, {}, 1, now=NOW) is None

    def test_waits_beyond_the_cap_are_final(self) -> None:
        """A wait longer than the cap is left to the job queue (None), at every source."""
        over = str(int(MAX_WAIT_SECONDS) + 1)
        assert build_retry_delay(403, {"retry-after": over}, 1, now=NOW) is None
        assert build_retry_delay(403, {"x-ratelimit-remaining": "0",
                                       "x-ratelimit-reset": str(int(NOW) + 3600)},
                                 1, now=NOW) is None
        assert build_retry_delay(502, {}, 10, now=NOW, backoff=0.5) is None
        assert build_retry_delay(403, {"retry-after": str(int(MAX_WAIT_SECONDS))}, 1,
                                 now=NOW) == MAX_WAIT_SECONDS


async def _client(hub: FakeHub, session: aiohttp.ClientSession, *,
                  attempts: int = 4) -> RetryingGitHubAPI:
    return installation_client(hub, session, attempts=attempts)


def _attempts(hub: FakeHub, path: str) -> int:
    return sum(1 for r in hub.state.requests if r["path"] == path)


# A POST: aiohttp itself retries idempotent requests once on a reused connection, which
# would double the attempts the double counts.
BLOBS = "/repos/o/r/git/blobs"
BLOB = {"content": "aGk=", "encoding": "base64"}


async def test_dropped_connections_are_retried(fakehub: FakeHub) -> None:
    """Two connections dropped without an answer, then the call succeeds."""
    await fakehub.add_repo("o", "r", installation_id=INSTALLATION_ID)
    fakehub.inject("POST", BLOBS, 0, times=2)
    async with aiohttp.ClientSession() as session:
        gh = await _client(fakehub, session)
        assert (await gh.post(BLOBS, data=BLOB))["sha"]
    assert _attempts(fakehub, BLOBS) == 3


async def test_connection_errors_give_up_after_the_last_attempt(fakehub: FakeHub) -> None:
    """A connection that keeps dropping raises after exactly `attempts` tries."""
    await fakehub.add_repo("o", "r", installation_id=INSTALLATION_ID)
    fakehub.inject("POST", BLOBS, 0, times=100)
    async with aiohttp.ClientSession() as session:
        gh = await _client(fakehub, session, attempts=3)
        with pytest.raises(aiohttp.ClientConnectionError):
            await gh.post(BLOBS, data=BLOB)
    assert _attempts(fakehub, BLOBS) == 3


async def test_unreachable_host_raises_after_retries() -> None:
    """Nothing listening: the connection error surfaces once the attempts are spent."""
    async with aiohttp.ClientSession() as session:
        gh = RetryingGitHubAPI(session, "test", attempts=2, backoff=0.01,
                               base_url="http://127.0.0.1:9")
        with pytest.raises(aiohttp.ClientConnectionError):
            await gh.getitem("/repos/o/r")


async def test_server_errors_stop_after_the_last_attempt(fakehub: FakeHub) -> None:
    """A 502 every time is raised after the last attempt, not retried forever."""
    await fakehub.add_repo("o", "r", installation_id=INSTALLATION_ID)
    fakehub.inject("GET", "/repos/o/r", 502, times=100)
    async with aiohttp.ClientSession() as session:
        gh = await _client(fakehub, session, attempts=3)
        with pytest.raises(gidgethub.GitHubBroken):
            await gh.getitem("/repos/o/r")
    assert _attempts(fakehub, "/repos/o/r") == 3


async def test_rate_limit_reset_then_success(fakehub: FakeHub) -> None:
    """A secondary rate limit with x-ratelimit-reset now is waited out and retried."""
    await fakehub.add_repo("o", "r", installation_id=INSTALLATION_ID)
    fakehub.inject("GET", "/repos/o/r", 403, headers={
        "x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"})
    async with aiohttp.ClientSession() as session:
        gh = await _client(fakehub, session)
        assert (await gh.getitem("/repos/o/r"))["name"] == "r"
    assert _attempts(fakehub, "/repos/o/r") == 2


async def test_urls_outside_the_configured_api_are_refused(fakehub: FakeHub) -> None:
    """A payload URL naming another host is refused before the token is sent anywhere."""
    async with aiohttp.ClientSession() as session:
        gh = await _client(fakehub, session)
        with pytest.raises(ForeignURLError, match=r"api\.github\.com"):
            await gh.getitem("https://api.github.com/repos/o/r")
        with pytest.raises(ForeignURLError):
            await gh.getitem(fakehub.base_url + "evil.example/repos/o/r")
    assert fakehub.state.requests == []


def test_is_under_needs_a_path_boundary() -> None:
    """A URL is under the base only at a path boundary, not by a shared prefix."""
    assert is_under("https://ghe.example/api/v3/repos/o/r", "https://ghe.example/api/v3")
    assert is_under("https://ghe.example/api/v3", "https://ghe.example/api/v3/")
    assert not is_under("https://ghe.example/api/v30/repos", "https://ghe.example/api/v3")
