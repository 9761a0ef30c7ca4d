"""Several Docker engines: the least busy one that answers, lost ones out of the rotation."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import DockerUnavailableError
from bot.sandbox.connect import DEFAULT_DOCKER_HOST
from bot.sandbox.hosts import DockerHosts, engine_urls, probe_engines

pytestmark = pytest.mark.docker

ENGINE_SOCKET = DEFAULT_DOCKER_HOST.removeprefix("unix://")


class EngineDoor:
    """A unix socket that forwards to the real engine while open: an engine that can vanish."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"unix://{path}"
        self._server: socket.socket | None = None

    def open(self) -> None:
        """Start answering on the socket."""
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def close(self) -> None:
        """Stop answering: new connections are refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.path.exists():
            os.unlink(self.path)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(ENGINE_SOCKET)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, target):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def doors(tmp_path: Path) -> Iterator[list[EngineDoor]]:
    """Two doors to the real engine, open."""
    made = [EngineDoor(tmp_path / f"engine{i}.sock") for i in range(2)]
    for door in made:
        door.open()
    yield made
    for door in made:
        door.close()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pick_returns_an_engine_that_answers(doors: list[EngineDoor], tmp_path: Path) -> None:
    """A dead engine in the list is passed over for one that answers."""
    dead = f"unix://{tmp_path / 'nothing.sock'}"
    hosts = DockerHosts([dead, doors[0].url])
    url, client = hosts.pick()
    assert url == doors[0].url and client.ping()
    assert [s.up for s in hosts.states()] == [False, True]


def test_parallel_leases_spread_over_engines(doors: list[EngineDoor]) -> None:
    """A run held on one engine makes the next pick take the other, equally busy one."""
    hosts = DockerHosts([d.url for d in doors])
    with hosts.lease() as (first, _):
        with hosts.lease() as (second, _):
            assert {first, second} == {doors[0].url, doors[1].url}
        with hosts.lease() as (third, _):
            assert third == second


def test_running_sandboxes_make_an_engine_busy(doors: list[EngineDoor]) -> None:
    """The busy figure is the engine's own count of running sandbox containers."""
    label = f"org.selfmod.test.{uuid.uuid4().hex[:8]}"
    hosts = DockerHosts([doors[0].url], label=label)
    assert hosts.states()[0].busy == 0
    _, client = hosts.pick()
    container = client.containers.run("selfmod-sandbox:latest", ["sleep", "30"], detach=True,
                                      network_mode="none", labels={label: "1"})
    try:
        assert hosts.states()[0].busy == 1
    finally:
        container.remove(force=True)


def test_lost_engine_leaves_and_rejoins_the_rotation(doors: list[EngineDoor]) -> None:
    """An engine that stops answering sits out until its retry time, then comes back."""
    clock = Clock()
    hosts = DockerHosts([d.url for d in doors], retry_seconds=10.0, clock=clock)
    doors[0].close()
    assert hosts.pick()[0] == doors[1].url
    doors[0].open()
    clock.now += 5
    # Still out: the pool does not knock on it before the retry time.
    assert hosts.states()[0].up is False
    clock.now += 6
    with hosts.lease() as (url, _):
        assert url == doors[0].url  # back, and tied with the other: first in the list


def test_no_engine_answers(tmp_path: Path) -> None:
    """With every engine gone, pick names each one and why."""
    hosts = DockerHosts([f"unix://{tmp_path / 'a.sock'}", f"unix://{tmp_path / 'b.sock'}"])
    with pytest.raises(DockerUnavailableError, match=r"no Docker engine answers.*a\.sock.*b\.sock"):
        hosts.pick()


def test_a_failed_run_takes_its_engine_out(doors: list[EngineDoor]) -> None:
    """A run that finds the engine gone takes it out of the rotation."""
    hosts = DockerHosts([d.url for d in doors])
    with pytest.raises(DockerUnavailableError), hosts.lease() as (url, _):
        raise DockerUnavailableError(f"the Docker engine at {url} does not answer")
    assert hosts.pick()[0] != url


def test_empty_list_is_refused() -> None:
    """A pool of no engines is a programming error, said at once."""
    with pytest.raises(ValueError, match="at least one"):
        DockerHosts([])


def test_default_engine_when_none_configured() -> None:
    """With no SELFMOD_DOCKER_HOSTS the local engine is used."""
    assert engine_urls(()) == (DEFAULT_DOCKER_HOST,)


def test_probe_reports_each_engine(doors: list[EngineDoor], tmp_path: Path) -> None:
    """The readiness probe says which engines answer."""
    states = probe_engines([doors[0].url, f"unix://{tmp_path / 'gone.sock'}"], timeout=1)
    assert [s.up for s in states] == [True, False]
    assert "does not answer" in (states[1].reason or "")


def test_pick_waits_for_an_engine_to_come_back(doors: list[EngineDoor]) -> None:
    """With every engine gone, pick waits (sleeping) until one answers again."""
    clock = Clock()
    hosts = DockerHosts([doors[0].url], retry_seconds=2.0, clock=clock)
    doors[0].close()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        if len(slept) == 3:
            doors[0].open()

    assert hosts.pick(wait=60, sleep=sleep)[0] == doors[0].url
    assert len(slept) == 3 and all(s >= 0.5 for s in slept)


def test_pick_gives_up_after_its_wait(tmp_path: Path) -> None:
    """An engine that never comes back fails the pick once the wait is over."""
    clock = Clock()
    hosts = DockerHosts([f"unix://{tmp_path / 'never.sock'}"], retry_seconds=2.0, clock=clock)

    def sleep(seconds: float) -> None:
        clock.now += seconds

    with pytest.raises(DockerUnavailableError):
        hosts.pick(wait=10, sleep=sleep)
    assert clock.now >= 1010
