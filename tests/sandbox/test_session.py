"""Sandbox sessions against the real engine: warm runs that still keep runs apart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from bot.errors import SandboxError
from bot.sandbox.limits import MIB, SandboxLimits
from bot.sandbox.recorder import ExecutionRecord
from bot.sandbox.runner import (
    PROCESS_LABEL,
    KillReason,
    SandboxRequest,
    SandboxResult,
    is_orphan,
    process_identity,
    remove_leftovers,
    remove_orphans,
)
from bot.sandbox.session import SESSION_LABEL, SandboxSession

pytestmark = pytest.mark.docker

LIMITS = SandboxLimits(timeout=20, memory_bytes=256 * MIB, pids=64, tmp_bytes=8 * MIB,
                       work_bytes=16 * MIB)

LEAVE_BEHIND = textwrap.dedent("""
    import os, subprocess
    open("/tmp/marker", "w").write("left")
    os.makedirs("/tmp/locked/inner")
    os.chmod("/tmp/locked", 0)
    open("left-in-work", "w").write("kept")
    if os.fork() == 0:
        os.setsid()
        subprocess.Popen(["sleep", "1000"], start_new_session=True)
        os._exit(0)
    print("left")
""")

LOOK = textwrap.dedent("""
    import os
    procs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                procs.append(open(f"/proc/{pid}/cmdline", "rb").read())
            except OSError:
                pass
    print("MARKER" if os.path.exists("/tmp/marker") else "no marker")
    print("LOCKED" if os.path.lexists("/tmp/locked") else "no locked")
    print("SLEEPER" if b"sleep\\x001000\\x00" in procs else "no sleeper")
    print("WORKFILE" if os.path.exists("left-in-work") else "no workfile")
""")


@pytest.fixture
async def session(docker_client: docker.DockerClient,
                  sandbox_image: str) -> AsyncIterator[SandboxSession]:
    """A session that must leave no container or volume behind."""
    async with SandboxSession(docker_client, engine_url="x", image=sandbox_image,
                              limits=LIMITS) as opened:
        yield opened
    _assert_gone(docker_client, opened)


def _assert_gone(client: docker.DockerClient, session: SandboxSession) -> None:
    # By the session's own label: other people's sandbox runs may share the engine.
    mine = {"label": f"{SESSION_LABEL}={session.session_id}"}
    assert client.containers.list(all=True, filters=mine) == []
    assert client.volumes.list(filters=mine) == []


def _request(image: str, workdir: Path, script: str, **kw: object) -> SandboxRequest:
    (workdir / "step.py").write_text(script)
    return SandboxRequest(workdir=workdir, image=image, command=["python", "step.py"],
                          limits=LIMITS, **kw)  # type: ignore[arg-type]


async def _two_runs(session: SandboxSession, image: str, workdir: Path,
                    fresh_copy: bool = False) -> SandboxResult:
    first = await session.run(_request(image, workdir, LEAVE_BEHIND))
    assert first.exit_code == 0 and "left" in first.stdout, first.stderr
    # The host's copy of step.py changes, but only a fresh copy brings it in.
    (workdir / "step.py").write_text(LOOK)
    second = await session.run(SandboxRequest(workdir=workdir, image=image, limits=LIMITS,
                                              command=["python", "-c", LOOK]),
                               fresh_copy=fresh_copy)
    assert second.exit_code == 0, second.stderr
    return second


async def test_runs_share_one_container_and_the_work_copy(session: SandboxSession,
                                                          sandbox_image: str,
                                                          workdir: Path) -> None:
    """Without a fresh copy, a run sees the work copy as the previous run left it."""
    second = await _two_runs(session, sandbox_image, workdir)
    assert "WORKFILE" in second.stdout
    assert session.containers_started == 1


async def test_nothing_but_the_work_copy_survives_into_the_next_run(
        session: SandboxSession, sandbox_image: str, workdir: Path,
        docker_client: docker.DockerClient) -> None:
    """/tmp files (even unreadable folders) and daemons of one run are gone by the next."""
    first = await session.run(_request(sandbox_image, workdir, LEAVE_BEHIND))
    assert first.exit_code == 0, first.stderr
    # Judged from the host: only the idle init and sleep remain in the container.
    assert session.container_id is not None
    top = docker_client.api.top(session.container_id)
    commands = [row[-1] for row in top["Processes"]]
    assert len(commands) == 2 and not any("1000" in c for c in commands), commands
    second = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                              limits=LIMITS, command=["python", "-c", LOOK]))
    assert "no marker" in second.stdout and "no locked" in second.stdout
    assert "no sleeper" in second.stdout, second.stdout


async def test_a_fresh_copy_replaces_the_work_copy(session: SandboxSession, sandbox_image: str,
                                                   workdir: Path) -> None:
    """A run that asks for a fresh copy sees the host's folder, not the last run's changes."""
    (workdir / ".git").mkdir()
    (workdir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    second = await _two_runs(session, sandbox_image, workdir, fresh_copy=True)
    assert "no workfile" in second.stdout and "no marker" in second.stdout
    assert session.containers_started == 1


async def test_another_folder_is_copied_in_fresh(session: SandboxSession, sandbox_image: str,
                                                 tmp_path: Path) -> None:
    """A run over another folder never sees the previous folder's copy."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "only-in-one").write_text("1")
    await session.run(SandboxRequest(workdir=one, image=sandbox_image, limits=LIMITS,
                                     command=["true"]))
    result = await session.run(SandboxRequest(workdir=two, image=sandbox_image, limits=LIMITS,
                                              command=["ls", "-a"]))
    assert "only-in-one" not in result.stdout


async def test_two_sessions_never_share_a_container(docker_client: docker.DockerClient,
                                                    sandbox_image: str, tmp_path: Path) -> None:
    """Concurrent sessions run in different containers and see nothing of each other."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    async with SandboxSession(docker_client, engine_url="x", image=sandbox_image,
                              limits=LIMITS) as first, \
            SandboxSession(docker_client, engine_url="x", image=sandbox_image,
                           limits=LIMITS) as second:
        script = ("import subprocess; open('/tmp/mine', 'w').write('1');"
                  "subprocess.Popen(['sleep', '1000'], start_new_session=True)")
        # A daemon that would outlive a plain reset: it is in the other container anyway.
        await first.run(SandboxRequest(workdir=one, image=sandbox_image, limits=LIMITS,
                                       command=["python", "-c", script]))
        seen = await second.run(SandboxRequest(workdir=two, image=sandbox_image, limits=LIMITS,
                                               command=["python", "-c", LOOK]))
        assert first.container_id and second.container_id
        assert first.container_id != second.container_id
        assert "no sleeper" in seen.stdout and "no marker" in seen.stdout
    _assert_gone(docker_client, first)
    _assert_gone(docker_client, second)


async def test_a_timed_out_run_discards_the_container(session: SandboxSession,
                                                      sandbox_image: str, workdir: Path) -> None:
    """After a timeout the next run gets a new container on a fresh copy."""
    killed = await session.run(SandboxRequest(
        workdir=workdir, image=sandbox_image, command=["sh", "-c", "touch stale; sleep 30"],
        limits=SandboxLimits(**{**LIMITS.__dict__, "timeout": 1.0})))
    assert killed.killed_reason is KillReason.TIMEOUT and killed.exit_code == 137
    after = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                             limits=LIMITS, command=["ls"]))
    assert after.exit_code == 0 and "stale" not in after.stdout
    assert session.containers_started == 2


async def test_a_process_that_fights_the_reset_costs_its_container(
        session: SandboxSession, sandbox_image: str, workdir: Path) -> None:
    """A daemon that kills every process it can makes the reset fail; the container goes."""
    fighter = textwrap.dedent("""
        import os, signal, time
        open("/tmp/marker", "w").write("left")
        print("started", flush=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except OSError:
                        pass
            os._exit(0)
        # Ends only when the fighter kills it, so the fighter is at work before the run ends.
        time.sleep(120)
    """)
    first = await session.run(_request(sandbox_image, workdir, fighter))
    assert "started" in first.stdout
    second = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                              limits=LIMITS, command=["python", "-c", LOOK]))
    assert session.containers_started == 2
    assert "no marker" in second.stdout and second.exit_code == 0, second


async def test_peak_memory_is_per_run(session: SandboxSession, sandbox_image: str,
                                      workdir: Path) -> None:
    """A run's peak memory is its own, not the session's."""
    big = await session.run(SandboxRequest(
        workdir=workdir, image=sandbox_image, limits=LIMITS,
        command=["python", "-c", "b = bytearray(120 << 20); b[::4096] = b'x' * len(b[::4096])"]))
    small = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                             limits=LIMITS, command=["true"]))
    assert big.peak_memory_bytes and big.peak_memory_bytes > 100 * MIB
    assert small.peak_memory_bytes is not None and small.peak_memory_bytes < 60 * MIB


async def test_a_memory_kill_is_reported_and_the_session_goes_on(
        session: SandboxSession, sandbox_image: str, workdir: Path) -> None:
    """An out-of-memory command is reported as such; the next run still works."""
    bomb = await session.run(SandboxRequest(
        workdir=workdir, image=sandbox_image, limits=LIMITS,
        command=["python", "-c", "b = []\nwhile True: b.append(bytearray(16 << 20))"]))
    assert bomb.killed_reason is KillReason.MEMORY and bomb.exit_code == 137
    after = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                             limits=LIMITS, command=["echo", "ok"]))
    assert after.stdout == "ok\n"


async def test_violations_are_reported_per_run(session: SandboxSession, sandbox_image: str,
                                               workdir: Path) -> None:
    """A network attempt is reported in its own run only."""
    connect = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\n"
               "except OSError:\n    pass\n")
    bad = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image, limits=LIMITS,
                                           command=["python", "-c", connect]))
    good = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                            limits=LIMITS, command=["python", "-c", "pass"]))
    assert bad.accessed_external_resources and good.security_violations == []


async def test_write_back_mirrors_the_session_copy(session: SandboxSession, sandbox_image: str,
                                                   workdir: Path, tmp_path: Path) -> None:
    """A run can hand its work copy back to a host folder."""
    out = tmp_path / "out"
    result = await session.run(SandboxRequest(
        workdir=workdir, image=sandbox_image, limits=LIMITS, write_back=out,
        command=["sh", "-c", "echo made > made.txt; ln -s /etc/passwd link"]))
    assert result.written_back == out
    assert (out / "made.txt").read_text() == "made\n" and not os.path.lexists(out / "link")


async def test_each_session_run_is_recorded(docker_client: docker.DockerClient,
                                            sandbox_image: str, workdir: Path) -> None:
    """Every run in a session reaches the recorder."""
    seen: list[ExecutionRecord] = []

    async def record(item: ExecutionRecord) -> None:
        seen.append(item)

    async with SandboxSession(docker_client, engine_url="x", image=sandbox_image,
                              limits=LIMITS, recorder=record) as session:
        for code in ("0", "3"):
            await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                             limits=LIMITS, command=["sh", "-c", f"exit {code}"],
                                             execution_type="benchmark"))
    assert [(r.exit_code, r.execution_type) for r in seen] == [(0, "benchmark"), (3, "benchmark")]


async def test_a_run_for_another_image_or_limits_is_refused(session: SandboxSession,
                                                            workdir: Path) -> None:
    """A session's image and limits are fixed; only the timeout may change per run."""
    with pytest.raises(SandboxError, match="not other:latest"):
        await session.run(SandboxRequest(workdir=workdir, image="other:latest", limits=LIMITS,
                                         command=["true"]))
    with pytest.raises(SandboxError, match="share its limits"):
        await session.run(SandboxRequest(workdir=workdir, image=session.image,
                                         command=["true"]))


_LEAVE = ("import os, subprocess\n"
          "open('/tmp/marker', 'w').write('left')\n"
          "subprocess.Popen(['sleep', '1000'], start_new_session=True)\n")
CLEANUP_ATTACKS = {
    "kill_the_wrapper": _LEAVE + "os.kill(os.getppid(), 9)\n",
    "signal_the_wrapper": _LEAVE + (
        "import signal\nfor sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):"
        "\n    os.kill(os.getppid(), sig)\n"),
    "starve_the_wrapper_of_files": _LEAVE + (
        "import resource\nresource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (0, 0))\n"),
    "ptrace_the_wrapper": _LEAVE + (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('ATTACHED' if libc.ptrace(16, os.getppid(), 0, 0) == 0 else 'no ptrace')\n"
        "try:\n    open(f'/proc/{os.getppid()}/mem', 'rb'); print('MEM')\n"
        "except OSError as exc:\n    print('no mem', exc)\n"),
}


@pytest.mark.parametrize("attack", CLEANUP_ATTACKS.values(), ids=CLEANUP_ATTACKS.keys())
async def test_the_command_cannot_skip_the_cleanup(session: SandboxSession, sandbox_image: str,
                                                   workdir: Path, attack: str,
                                                   docker_client: docker.DockerClient) -> None:
    """Killing, signalling, starving or tracing the wrapper still leaves the next run clean."""
    first = await session.run(_request(sandbox_image, workdir, attack))
    assert "ATTACHED" not in first.stdout and "MEM\n" not in first.stdout, first.stdout
    assert session.container_id is not None
    # Judged from the host before anything else runs: only the idle processes are left.
    assert len(docker_client.api.top(session.container_id)["Processes"]) == 2
    second = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                              limits=LIMITS, command=["python", "-c", LOOK]))
    assert "no marker" in second.stdout and "no sleeper" in second.stdout, second.stdout


async def test_a_planted_audit_log_link_is_never_followed_by_the_host(
        session: SandboxSession, sandbox_image: str, workdir: Path,
        canary: dict[str, str]) -> None:
    """An audit log replaced by a link to a host path is neither read nor removed on the host."""
    script = ("import os, sys\nos.unlink('/sandbox/audit/log') "
              "if os.path.lexists('/sandbox/audit/log') else None\n"
              "os.symlink(sys.argv[1], '/sandbox/audit/log')\n"
              "os.mkfifo('/sandbox/audit/fifo')\n")
    (workdir / "step.py").write_text(script)
    result = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                              limits=LIMITS,
                                              command=["python", "step.py", canary["file"]]))
    assert result.exit_code == 0, result.stderr
    assert Path(canary["file"]).read_text() == canary["file_content"]
    assert canary["file_content"] not in repr(result)
    after = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                             limits=LIMITS, command=["ls", "-a",
                                                                     "/sandbox/audit"]))
    assert after.stdout.split() == [".", ".."]


async def test_a_path_variable_cannot_replace_the_wrapper(session: SandboxSession,
                                                          sandbox_image: str,
                                                          workdir: Path) -> None:
    """A PATH that points into the work copy does not change which python3 cleans up."""
    (workdir / "bin").mkdir()
    fake = workdir / "bin" / "python3"
    fake.write_text("#!/bin/sh\nexec \"$@\"\n")
    fake.chmod(0o755)
    await session.run(SandboxRequest(
        workdir=workdir, image=sandbox_image, limits=LIMITS,
        env={"PATH": "/sandbox/work/bin:/usr/bin:/bin"},
        command=["sh", "-c", "echo x > /tmp/marker"]))
    second = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                              limits=LIMITS, command=["python", "-c", LOOK]))
    assert "no marker" in second.stdout


async def test_leftovers_are_removed_per_owner(docker_client: docker.DockerClient,
                                               sandbox_image: str, workdir: Path,
                                               sandbox_owner: str,
                                               leftovers: Callable[[], list[Any]]) -> None:
    """A worker's start removes its own leftovers only, and a sweeper only old ones."""
    session = SandboxSession(docker_client, engine_url="x", image=sandbox_image, limits=LIMITS,
                             owner=sandbox_owner)
    await session.run(SandboxRequest(workdir=workdir, image=sandbox_image, limits=LIMITS,
                                     command=["true"]))
    # As if the worker had crashed: the container and volume are still there.
    assert len(leftovers()) == 2
    assert remove_leftovers(docker_client, owner="someone-else") == 0
    assert remove_leftovers(docker_client, owner=sandbox_owner, older_than=3600) == 0
    assert remove_leftovers(docker_client, owner=sandbox_owner) == 2
    assert leftovers() == []
    await session.close()


def test_an_owner_with_an_equals_sign_is_refused(docker_client: docker.DockerClient) -> None:
    """Owner names become label values and cannot carry a filter of their own."""
    with pytest.raises(SandboxError, match="owner"):
        SandboxSession(docker_client, engine_url="x", image="x", owner="a=b")


async def test_a_cancelled_run_removes_the_container_at_once(
        docker_client: docker.DockerClient, sandbox_image: str, workdir: Path,
        sandbox_owner: str, leftovers: Callable[[], list[Any]]) -> None:
    """Cancelling the caller kills and removes the warm container; a later run gets a new one."""
    async with SandboxSession(docker_client, engine_url="x", image=sandbox_image, limits=LIMITS,
                              owner=sandbox_owner) as session:
        task = asyncio.ensure_future(session.run(SandboxRequest(
            workdir=workdir, image=sandbox_image, limits=LIMITS, command=["sleep", "60"])))
        await asyncio.sleep(2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert leftovers() == []
        again = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                                 limits=LIMITS, command=["echo", "again"]))
        assert again.stdout == "again\n" and session.containers_started == 2
    assert leftovers() == []


async def test_a_missing_command_exits_127_with_a_message(session: SandboxSession,
                                                          sandbox_image: str,
                                                          workdir: Path) -> None:
    """As in a shell: 127 and the reason on stderr; the session goes on in the same container."""
    missing = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                               limits=LIMITS, command=["selfmod-no-such-cmd"]))
    assert missing.exit_code == 127
    assert "cannot run selfmod-no-such-cmd" in missing.stderr
    assert (await session.run(SandboxRequest(workdir=workdir, image=sandbox_image, limits=LIMITS,
                                             command=["true"]))).exit_code == 0
    assert session.containers_started == 1


async def test_exit_codes_and_signals_come_through(session: SandboxSession, sandbox_image: str,
                                                   workdir: Path) -> None:
    """The command's exit code, or 128 plus its signal, is the run's."""
    codes = []
    for command in (["sh", "-c", "exit 3"], ["sh", "-c", "kill -TERM $$"], ["false"]):
        result = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                                  limits=LIMITS, command=command))
        codes.append(result.exit_code)
    assert codes == [3, 143, 1]
    assert session.containers_started == 1


async def test_a_failed_copy_costs_the_container_not_the_session(
        session: SandboxSession, sandbox_image: str, tmp_path: Path) -> None:
    """A folder too large for the work volume is a clear error; the next run starts clean."""
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    big.mkdir()
    (small / "ok.txt").write_text("ok")
    await session.run(SandboxRequest(workdir=small, image=sandbox_image, limits=LIMITS,
                                     command=["true"]))
    (big / "huge.bin").write_bytes(b"x" * (LIMITS.work_bytes + 1))
    with pytest.raises(SandboxError, match="larger than the sandbox's work size limit"):
        await session.run(SandboxRequest(workdir=big, image=sandbox_image, limits=LIMITS,
                                         command=["true"]))
    again = await session.run(SandboxRequest(workdir=small, image=sandbox_image, limits=LIMITS,
                                             command=["cat", "ok.txt"]))
    assert again.stdout == "ok" and session.containers_started == 2


async def test_through_the_engine_api_alone_runs_stay_apart(
        docker_client: docker.DockerClient, sandbox_image: str, workdir: Path,
        sandbox_owner: str, leftovers: Callable[[], list[Any]]) -> None:
    """Without the engine's files (another machine), copies, resets and violations still work."""
    async with SandboxSession(docker_client, engine_url="x", image=sandbox_image, limits=LIMITS,
                              owner=sandbox_owner, host_files=False) as session:
        second = await _two_runs(session, sandbox_image, workdir)
        assert "no marker" in second.stdout and "no sleeper" in second.stdout
        assert "WORKFILE" in second.stdout and second.peak_memory_bytes is None
        (workdir / "step.py").write_text(LOOK)
        fresh = await session.run(SandboxRequest(
            workdir=workdir, image=sandbox_image, limits=LIMITS, command=["python", "step.py"]),
            fresh_copy=True)
        assert "no workfile" in fresh.stdout
        connect = ("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), 1)\n"
                   "except OSError:\n    pass\n")
        bad = await session.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                               limits=LIMITS, command=["python", "-c", connect]))
        assert bad.accessed_external_resources
        assert session.containers_started == 1
    assert leftovers() == []


async def test_a_missing_image_is_a_clear_error(docker_client: docker.DockerClient,
                                                workdir: Path) -> None:
    """A session on an image the engine lacks names how to build one, and leaves nothing."""
    async with SandboxSession(docker_client, engine_url="x", image="selfmod-no-such:latest",
                              limits=LIMITS) as opened:
        with pytest.raises(SandboxError, match="selfmod-no-such:latest is not on the Docker"):
            await opened.run(SandboxRequest(workdir=workdir, image="selfmod-no-such:latest",
                                            limits=LIMITS, command=["true"]))
    _assert_gone(docker_client, opened)


_KILLED_RUN = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    import docker
    from bot.sandbox.limits import MIB, SandboxLimits
    from bot.sandbox.runner import SandboxRequest
    from bot.sandbox.session import SandboxSession

    async def main():
        limits = SandboxLimits(timeout=120, memory_bytes=256 * MIB, pids=64,
                               tmp_bytes=8 * MIB, work_bytes=16 * MIB)
        session = SandboxSession(docker.from_env(), engine_url="x", image=sys.argv[1],
                                 limits=limits, owner=sys.argv[2])
        await session.run(SandboxRequest(workdir=Path(sys.argv[3]), image=sys.argv[1],
                                         limits=limits, command=["sleep", "100"]))

    asyncio.run(main())
""")


async def test_what_a_killed_process_left_is_removed_at_once(
        docker_client: docker.DockerClient, sandbox_image: str, workdir: Path,
        sandbox_owner: str, leftovers: Callable[[], list[Any]]) -> None:
    """A run killed with SIGKILL leaves its container; the next process removes it, young."""
    live = SandboxSession(docker_client, engine_url="x", image=sandbox_image, limits=LIMITS,
                          owner=sandbox_owner)
    await live.run(SandboxRequest(workdir=workdir, image=sandbox_image, limits=LIMITS,
                                  command=["true"]))
    mine = {c.id for c in leftovers() if hasattr(c, "labels")}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, sandbox_image, sandbox_owner,
                              str(workdir)])
    try:
        killed: list[Any] = []
        for _ in range(600):  # its volume comes first, then its container
            killed = [c for c in leftovers() if hasattr(c, "labels") and c.id not in mine]
            if killed:
                break
            await asyncio.sleep(0.1)
        assert killed and killed[0].labels[PROCESS_LABEL].split("/")[2] == str(child.pid)
    finally:
        child.kill()
        child.wait()
    # Its container and its volume go (and any other ended process's on this machine).
    assert remove_orphans(docker_client) >= 2
    assert {getattr(c, "id", None) for c in leftovers()} >= mine  # the live session's stay
    assert len(leftovers()) == 2
    await live.close()


def test_only_an_ended_process_of_this_machine_is_an_orphan() -> None:
    """Another machine, another boot, a malformed label or a live process are left alone."""
    me = process_identity()
    assert me is not None and me == process_identity(os.getpid())
    host, boot, _pid, _start = me.split("/")
    ended = subprocess.Popen(["sleep", "0"])
    gone = process_identity(ended.pid)
    ended.wait()
    assert gone is not None and is_orphan(gone)
    assert not is_orphan(me)
    assert not is_orphan(f"elsewhere/{boot}/{ended.pid}/1")
    assert not is_orphan(f"{host}/another-boot/{ended.pid}/1")
    assert not is_orphan("") and not is_orphan("a/b/c") and not is_orphan(f"{host}/{boot}/x/1")
    # The same id given to a later process: the start tick tells them apart.
    later = me.rsplit("/", 1)[0] + "/1"
    assert is_orphan(later)
