"""Several Docker engines: pick the least busy one that answers; a lost one sits out a while.

`SELFMOD_DOCKER_HOSTS` lists engine URLs (unix:// or tcp://). Busy means sandbox containers
running there now, counted on the engine itself, so workers on several machines see the same
figure; this process's own runs that have not started a container yet count too. An engine that
does not answer leaves the rotation for `retry_seconds`, then gets one ping on the next pick.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import docker
import docker.errors

from bot.errors import DockerUnavailableError
from bot.sandbox.connect import DEFAULT_DOCKER_HOST, UNAVAILABLE_ERRORS, open_docker, unavailable

log = logging.getLogger(__name__)

SANDBOX_LABEL = "org.selfmod.sandbox"
DEFAULT_RETRY_SECONDS = 5.0
# How long a session waits for an engine to come back before its job fails (and is retried).
DEFAULT_WAIT_SECONDS = 120.0
PROBE_TIMEOUT_SECONDS = 3.0

Opener = Callable[[str], docker.DockerClient]


@dataclass
class _Engine:
    url: str
    client: docker.DockerClient | None = None
    down_until: float = 0.0
    reason: str | None = None
    local_runs: int = field(default=0)


@dataclass(frozen=True)
class EngineState:
    """One engine as the pool sees it now."""

    url: str
    up: bool
    busy: int | None
    reason: str | None = None


class DockerHosts:
    """The engines this process may run sandboxes on."""

    def __init__(self, urls: Sequence[str], *, retry_seconds: float = DEFAULT_RETRY_SECONDS,
                 opener: Opener | None = None, label: str = SANDBOX_LABEL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("DockerHosts needs at least one engine URL")
        self._engines = [_Engine(url) for url in dict.fromkeys(urls)]
        self._retry = retry_seconds
        self._open = opener or (lambda url: open_docker(url, timeout=60.0))
        self._clock = clock
        self._label = label
        self._lock = threading.Lock()

    @property
    def urls(self) -> tuple[str, ...]:
        """Return every engine URL, in rotation or not."""
        return tuple(engine.url for engine in self._engines)

    def pick(self, *, wait: float = 0.0,
             sleep: Callable[[float], None] = time.sleep) -> tuple[str, docker.DockerClient]:
        """Return the least busy engine that answers, waiting up to `wait` seconds for one."""
        deadline = self._clock() + wait
        while True:
            try:
                return self._pick_now()
            except DockerUnavailableError:
                now = self._clock()
                if now >= deadline:
                    raise
                again = min(e.down_until for e in self._engines)
                sleep(max(0.5, min(again, deadline) - now))

    def _pick_now(self) -> tuple[str, docker.DockerClient]:
        loads: list[tuple[int, int, _Engine]] = []
        for index, engine in enumerate(self._engines):
            busy = self._busy(engine)
            if busy is not None:
                loads.append((busy + engine.local_runs, index, engine))
        if not loads:
            reasons = "; ".join(f"{e.url}: {e.reason}" for e in self._engines)
            raise DockerUnavailableError(f"no Docker engine answers ({reasons})")
        _, _, chosen = min(loads, key=lambda item: (item[0], item[1]))
        assert chosen.client is not None
        return chosen.url, chosen.client

    @contextlib.contextmanager
    def lease(self) -> Iterator[tuple[str, docker.DockerClient]]:
        """Hold the least busy engine for one run, so parallel picks here spread out."""
        url, client = self.pick()
        engine = self._engine(url)
        with self._lock:
            engine.local_runs += 1
        try:
            yield url, client
        except DockerUnavailableError as exc:
            self.mark_down(url, str(exc))
            raise
        finally:
            with self._lock:
                engine.local_runs -= 1

    def mark_down(self, url: str, reason: str) -> None:
        """Take an engine out of the rotation until its retry time."""
        engine = self._engine(url)
        with self._lock:
            if engine.down_until <= self._clock():
                log.warning("Docker engine %s left the rotation: %s", url, reason)
            engine.down_until = self._clock() + self._retry
            engine.reason = reason
            engine.client = None

    def states(self) -> list[EngineState]:
        """Probe every engine in rotation (and those due a retry) and report them."""
        states = []
        for engine in self._engines:
            busy = self._busy(engine)
            states.append(EngineState(engine.url, busy is not None, busy, engine.reason))
        return states

    def _engine(self, url: str) -> _Engine:
        for engine in self._engines:
            if engine.url == url:
                return engine
        raise KeyError(url)

    def _busy(self, engine: _Engine) -> int | None:
        """Count the engine's running sandbox containers; None when it is out of rotation."""
        if engine.down_until > self._clock():
            return None
        try:
            if engine.client is None:
                engine.client = self._open(engine.url)
            running = engine.client.containers.list(filters={"label": self._label})
        except DockerUnavailableError as exc:
            self.mark_down(engine.url, str(exc))
            return None
        except (docker.errors.DockerException, *UNAVAILABLE_ERRORS) as exc:
            self.mark_down(engine.url, str(unavailable(engine.url, exc)))
            return None
        if engine.reason is not None:
            log.info("Docker engine %s is back in the rotation", engine.url)
            engine.reason = None
        return len(running)


def engine_urls(configured: Sequence[str]) -> tuple[str, ...]:
    """Return the configured engines, or the local default one."""
    return tuple(configured) or (DEFAULT_DOCKER_HOST,)


@functools.cache
def process_hosts(urls: tuple[str, ...]) -> DockerHosts:
    """Return this process's pool for these engines, so lost ones stay remembered."""
    return DockerHosts(urls)


def probe_engines(urls: Sequence[str], *,
                  timeout: float = PROBE_TIMEOUT_SECONDS) -> list[EngineState]:
    """Ping each engine once with a short timeout (the readiness probe)."""
    states = []
    for url in engine_urls(urls):
        try:
            client = docker.DockerClient(base_url=url, timeout=int(max(1, timeout)),
                                         version="auto")
            try:
                client.ping()
            finally:
                client.close()
        except (docker.errors.DockerException, *UNAVAILABLE_ERRORS) as exc:
            states.append(EngineState(url, False, None, str(unavailable(url, exc))))
            continue
        states.append(EngineState(url, True, None))
    return states
