"""The sandbox runner against the real engine: results, limits, recording, a missing engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from sqlalchemy import select

from bot.errors import DockerUnavailableError, SandboxError
from bot.sandbox.connect import open_docker
from bot.sandbox.limits import MIB, SandboxLimits, parse_size
from bot.sandbox.recorder import ExecutionRecord, StoreRecorder
from bot.sandbox.runner import KillReason, SandboxRequest, SandboxRunner, build_env
from bot.store.db import create_engine, create_sessionmaker
from bot.store.models import Base, SandboxExecution

GOOD_MODULE = "def add(a, b):\n    return a + b\n"
GOOD_TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def _repo(path: Path) -> Path:
    (path / "calc.py").write_text(GOOD_MODULE)
    (path / "test_calc.py").write_text(GOOD_TEST)
    return path


@pytest.mark.docker
async def test_modification_sandboxing(runner: SandboxRunner, sandbox_image: str,
                                       workdir: Path) -> None:
    """A good modification's tests pass in the sandbox with no violation (the PRD's story)."""
    request = SandboxRequest(workdir=_repo(workdir), image=sandbox_image,
                             command=["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"])
    result = await runner.run(request)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert result.security_violations == []
    assert result.performance_metrics["execution_time"] > 0
    assert not result.accessed_external_resources
    assert not result.modified_system_files
    assert result.peak_memory_bytes and result.peak_memory_bytes > 0


@pytest.mark.docker
@pytest.mark.parametrize(("limits", "command", "reason", "limit_s"), [
    (SandboxLimits(timeout=2), ["sleep", "30"], KillReason.TIMEOUT, 2.0),
    (SandboxLimits(timeout=30, memory_bytes=64 * MIB),
     ["python", "-c", "b = []\nwhile True: b.append(bytearray(8 << 20))"], KillReason.MEMORY, 0.0),
])
async def test_a_run_past_its_limit_is_killed_promptly(
        runner: SandboxRunner, sandbox_image: str, workdir: Path, limits: SandboxLimits,
        command: list[str], reason: KillReason, limit_s: float,
        leftovers: Callable[[], list[Any]]) -> None:
    """A run past its timeout or memory limit is killed and reported within 1 s of the limit."""
    started = time.monotonic()
    result = await runner.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                             command=command, limits=limits))
    assert result.killed and result.killed_reason is reason
    assert result.exit_code == 137
    assert result.wall_time < limit_s + 1.0
    assert time.monotonic() - started < limit_s + 5.0  # set-up and removal included
    assert leftovers() == []


@pytest.mark.docker
async def test_a_cancelled_run_leaves_no_container(runner: SandboxRunner, sandbox_image: str,
                                                   workdir: Path,
                                                   leftovers: Callable[[], list[Any]]) -> None:
    """Cancelling the caller (as Ctrl-C does) kills and removes the container."""
    task = asyncio.ensure_future(runner.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                                           command=["sleep", "60"])))
    await asyncio.sleep(1.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers() == []


@pytest.mark.docker
async def test_each_run_is_recorded_in_sandbox_executions(
        docker_client: docker.DockerClient, sandbox_image: str, workdir: Path,
        tmp_path: Path) -> None:
    """The store recorder writes one sandbox_executions row with the run's figures."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessionmaker = create_sessionmaker(engine)
    runner = SandboxRunner(docker_client, engine_url="unix:///var/run/docker.sock",
                           recorder=StoreRecorder(sessionmaker))
    await runner.run(SandboxRequest(workdir=workdir, image=sandbox_image,
                                    command=["sh", "-c", "echo out; echo err >&2; exit 3"],
                                    execution_type="unit_test"))
    async with sessionmaker() as session:
        rows = (await session.execute(select(SandboxExecution))).scalars().all()
    await engine.dispose()
    assert len(rows) == 1
    row = rows[0]
    assert (row.exit_code, row.stdout, row.stderr) == (3, "out\n", "err\n")
    assert row.command == "sh -c 'echo out; echo err >&2; exit 3'"
    assert row.execution_type == "unit_test" and row.execution_time_ms >= 1
    assert row.memory_usage_mb is not None and row.security_violations == []


@pytest.mark.docker
async def test_a_recorder_callback_gets_every_run(docker_client: docker.DockerClient,
                                                  sandbox_image: str, workdir: Path) -> None:
    """Any async callable can record runs, killed ones included."""
    seen: list[ExecutionRecord] = []

    async def record(item: ExecutionRecord) -> None:
        seen.append(item)

    runner = SandboxRunner(docker_client, engine_url="x", recorder=record)
    await runner.run(SandboxRequest(workdir=workdir, image=sandbox_image, command=["sleep", "9"],
                                    limits=SandboxLimits(timeout=1)))
    assert [r.killed_reason for r in seen] == ["timeout"]


def test_an_engine_that_does_not_answer_names_its_address(tmp_path: Path) -> None:
    """With no engine behind the socket, the error names the engine's address."""
    url = f"unix://{tmp_path / 'no-engine.sock'}"
    with pytest.raises(DockerUnavailableError, match=r"no-engine\.sock"):
        open_docker(url)


def test_the_environment_keeps_only_the_allow_list() -> None:
    """Host variables outside the allow-list never reach the sandbox."""
    env = build_env({"MY_FLAG": "1"}, {"AWS_SECRET_ACCESS_KEY": "x", "TZ": "UTC", "PATH": "/x"})
    assert env["MY_FLAG"] == "1" and env["TZ"] == "UTC"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "PATH" not in env


def test_a_request_cannot_override_the_audit_variables(tmp_path: Path) -> None:
    """The audit hook's settings are not the caller's to change."""
    with pytest.raises(SandboxError, match="SELFMOD_AUDIT_LOG"):
        SandboxRequest(workdir=tmp_path, command=["true"], image="x",
                       env={"SELFMOD_AUDIT_LOG": "/dev/null"})


def test_an_empty_command_is_refused(tmp_path: Path) -> None:
    """A request needs a command."""
    with pytest.raises(SandboxError, match="needs a command"):
        SandboxRequest(workdir=tmp_path, command=[], image="x")


@pytest.mark.parametrize(("text", "size"), [("512m", 512 * MIB), ("1g", 1 << 30), ("2048", 2048),
                                            ("1.5G", 3 << 29)])
def test_sizes_parse(text: str, size: int) -> None:
    """Sizes take k, m and g suffixes."""
    assert parse_size(text) == size


def test_a_bad_size_is_a_clear_error() -> None:
    """A size that is not a number with a unit says how to write one."""
    with pytest.raises(SandboxError, match=r"e\.g\. 512m"):
        parse_size("lots")


@pytest.mark.docker
async def test_through_the_engine_api_alone_a_run_is_complete(
        docker_client: docker.DockerClient, sandbox_image: str, workdir: Path,
        tmp_path: Path) -> None:
    """Without the engine's files (another machine): copy in, figures, violations, write-back."""
    runner = SandboxRunner(docker_client, engine_url="x", host_files=False)
    out = tmp_path / "out"
    script = ("import socket\nopen('made.txt', 'w').write('made')\n"
              "try:\n    socket.create_connection(('1.1.1.1', 53), 1)\nexcept OSError:\n    pass\n")
    result = await runner.run(SandboxRequest(workdir=_repo(workdir), image=sandbox_image,
                                             command=["python", "-c", script], write_back=out))
    assert result.exit_code == 0, result.stderr
    assert (out / "made.txt").read_text() == "made" and (out / "calc.py").exists()
    assert result.accessed_external_resources
    assert result.peak_memory_bytes and result.peak_memory_bytes > 0


@pytest.mark.docker
async def test_a_missing_image_is_a_clear_error(runner: SandboxRunner, workdir: Path,
                                                leftovers: Callable[[], list[Any]]) -> None:
    """An image the engine lacks (no registry to pull from) names how to build one."""
    request = SandboxRequest(workdir=_repo(workdir), image="selfmod-no-such-image:latest",
                             command=["python", "-c", "pass"])
    with pytest.raises(SandboxError, match="selfmod sandbox build-image"):
        await runner.run(request)
    assert leftovers() == []
