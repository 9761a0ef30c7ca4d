"""The hardened Docker sandbox: run one command over a copy of a work folder.

A run: a size-limited tmpfs volume is created; a container starts on it idle (no network,
read-only root, all capabilities dropped, no-new-privileges, uid 10001, pids/memory/CPU limits,
ulimits, an init, no IPC, no logs) while the host makes the work copy; the copy is put into the
volume; the command runs with `exec`, under a host-side wall-clock timer that kills the whole
container; its output is read up to a cap; then peak memory, the filesystem diff, the audit log
and (when asked) the work copy are read back; the container and the volume are removed whatever
happened. On the engine's own machine the copy, the diff, the memory figures and the audit log go
through the filesystem (links never followed) instead of the engine's API, which is quicker.
Several runs of one job: see session.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import docker
import docker.errors
import docker.types
from docker.models.containers import Container

from bot.errors import SandboxError
from bot.sandbox.connect import UNAVAILABLE_ERRORS, missing_image, unavailable
from bot.sandbox.limits import SandboxLimits
from bot.sandbox.recorder import ExecutionRecorder, build_record
from bot.sandbox.violations import Violation, ViolationKind, build_violations
from bot.sandbox.workcopy import (
    SANDBOX_UID,
    CopyReport,
    build_work_tar,
    extract_work_tar,
    read_member,
    take_file,
    write_back,
)

LABEL = "org.selfmod.sandbox"
RUN_LABEL = "org.selfmod.sandbox.run"
# Who started a container (a worker's name): leftovers can be removed per owner, so a worker
# that restarts never removes the live runs of another worker on the same engine.
OWNER_LABEL = "org.selfmod.sandbox.owner"
# Which process of which machine started a container: the next selfmod process on that machine
# removes at once what a process that has ended left (a killed `selfmod run`, a server that was
# restarted), without waiting for the age-based sweep.
PROCESS_LABEL = "org.selfmod.sandbox.process"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
MOUNT = "/sandbox"
WORKDIR = f"{MOUNT}/work"
AUDIT_LOG = f"{MOUNT}/audit/log"
# Host variables that may reach the sandbox, and only when the caller passes them on.
ALLOWED_HOST_ENV = frozenset({"LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "PYTHONHASHSEED"})
_FIXED_ENV = {
    "HOME": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "SELFMOD_AUDIT_LOG": AUDIT_LOG,
    "SELFMOD_AUDIT_ALLOW": f"{MOUNT}:/tmp:/dev/null:/dev/stdout:/dev/stderr:/dev/tty:/proc/self",
}
_AUDIT_LIMIT = 256 * 1024
SIGKILL_EXIT = 137
T = TypeVar("T")


class KillReason(enum.StrEnum):
    """Why the host stopped a run."""

    TIMEOUT = "timeout"
    MEMORY = "memory"
    OUTPUT = "output_limit"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class SandboxRequest:
    """One command to run over a copy of `workdir`."""

    workdir: Path
    command: Sequence[str]
    image: str
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    env: Mapping[str, str] = field(default_factory=dict)
    write_back: Path | None = None
    execution_type: str = "unit_test"
    modification_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if not self.command or not all(isinstance(arg, str) and arg for arg in self.command):
            raise SandboxError("the sandbox needs a command: a non-empty list of arguments")
        bad = [name for name in self.env if name.startswith("SELFMOD_AUDIT") or "=" in name]
        if bad:
            raise SandboxError(f"environment names not allowed in the sandbox: {', '.join(bad)}")


@dataclass(frozen=True)
class SandboxResult:
    """What a run did, as seen from the host."""

    exit_code: int
    stdout: str
    stderr: str
    wall_time: float
    peak_memory_bytes: int | None
    killed_reason: KillReason | None
    security_violations: list[Violation]
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    skipped_paths: Mapping[str, str] = field(default_factory=dict)
    written_back: Path | None = None

    @property
    def killed(self) -> bool:
        """Tell whether the host (or the kernel's memory limit) stopped the run."""
        return self.killed_reason is not None

    @property
    def performance_metrics(self) -> dict[str, float]:
        """Return the run's measurements (the PRD's `performance_metrics`)."""
        metrics = {"execution_time": self.wall_time}
        if self.peak_memory_bytes is not None:
            metrics["peak_memory_mb"] = self.peak_memory_bytes / (1024 * 1024)
        return metrics

    @property
    def accessed_external_resources(self) -> bool:
        """Tell whether the run attempted the network."""
        return any(v.kind is ViolationKind.NETWORK for v in self.security_violations)

    @property
    def modified_system_files(self) -> bool:
        """Tell whether the run attempted to write outside its work copy and /tmp."""
        return any(v.kind is ViolationKind.WRITE_OUTSIDE for v in self.security_violations)

    def to_json(self) -> dict[str, Any]:
        """Return the whole result as JSON-ready data."""
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "wall_time": self.wall_time,
            "peak_memory_bytes": self.peak_memory_bytes,
            "killed": self.killed,
            "killed_reason": self.killed_reason.value if self.killed_reason else None,
            "security_violations": [v.to_json() for v in self.security_violations],
            "accessed_external_resources": self.accessed_external_resources,
            "modified_system_files": self.modified_system_files,
            "skipped_paths": dict(self.skipped_paths),
            "written_back": str(self.written_back) if self.written_back else None,
        }


async def run_abortable(work: Callable[[], T], abort: Callable[[], None]) -> T:
    """Run blocking work in a thread; when the caller is cancelled, abort it and wait for it."""
    future = asyncio.get_running_loop().run_in_executor(None, work)
    try:
        return await asyncio.shield(future)
    except BaseException:
        # Cancelled or interrupted: kill now, and wait until the container is removed.
        abort()
        with contextlib.suppress(BaseException):
            await future
        raise


def build_container_options(limits: SandboxLimits, labels: Mapping[str, str], volume: str, *,
                            user: str = f"{SANDBOX_UID}:{SANDBOX_UID}") -> dict[str, Any]:
    """Return the hardened container settings, the work volume mounted at /sandbox."""
    ulimits = [docker.types.Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
               docker.types.Ulimit(name="nproc", soft=limits.pids * 4, hard=limits.pids * 4),
               docker.types.Ulimit(name="fsize", soft=limits.work_bytes, hard=limits.work_bytes),
               docker.types.Ulimit(name="core", soft=0, hard=0)]
    return dict(
        entrypoint=[], user=user, working_dir="/", hostname="sandbox", labels=dict(labels),
        environment={}, network_mode="none", read_only=True,
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmp_bytes},mode=1777"},
        mounts=[docker.types.Mount(MOUNT, volume, type="volume")],
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"], privileged=False,
        pids_limit=limits.pids, mem_limit=limits.memory_bytes,
        memswap_limit=limits.memory_bytes, nano_cpus=int(limits.cpus * 1e9),
        ulimits=ulimits, init=True, ipc_mode="none", log_config={"type": "none"},
    )


def create_work_volume(client: docker.DockerClient, name: str, labels: Mapping[str, str],
                       limits: SandboxLimits) -> Any:
    """Create the size-limited tmpfs volume that holds a work copy."""
    return client.volumes.create(
        name=name, driver="local", labels=dict(labels),
        driver_opts={"type": "tmpfs", "device": "tmpfs",
                     "o": f"size={limits.work_bytes},mode=0755,nosuid,nodev"})


def build_env(extra: Mapping[str, str], host: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the sandbox environment: fixed values, allow-listed host values, then `extra`."""
    env = {name: value for name, value in (host or {}).items() if name in ALLOWED_HOST_ENV}
    env.update(extra)
    env.update(_FIXED_ENV)
    return env


class SandboxRunner:
    """Run commands in the sandbox on one Docker engine, recording each run."""

    def __init__(self, client: docker.DockerClient, *, engine_url: str,
                 recorder: ExecutionRecorder | None = None,
                 host_env: Mapping[str, str] | None = None, owner: str | None = None,
                 host_files: bool = True,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client = client
        self._engine_url = engine_url
        # False: use only the engine's API, as for an engine on another machine (or a worker
        # that may not read the engine's files).
        self._host_files = host_files
        self._recorder = recorder
        self._host_env = dict(host_env or {})
        self._labels = sandbox_labels(owner)
        self._clock = clock

    async def run(self, request: SandboxRequest) -> SandboxResult:
        """Run the request's command; the container is gone when this returns or raises."""
        run = _Run(self._client, request, build_env(request.env, self._host_env), self._labels,
                   host_files=self._host_files)
        result = await run_abortable(lambda: self._run_sync(run),
                                     lambda: run.abort(KillReason.INTERRUPTED))
        if self._recorder is not None:
            await self._recorder(build_record(request, result, now=self._clock()))
        return result

    def _run_sync(self, run: _Run) -> SandboxResult:
        try:
            return run.execute()
        except docker.errors.ImageNotFound:
            raise missing_image(run.request.image, self._engine_url) from None
        except UNAVAILABLE_ERRORS as exc:
            raise unavailable(self._engine_url, exc) from exc


class _Run:
    """One run's state, shared between the runner thread and whoever aborts it."""

    def __init__(self, client: docker.DockerClient, request: SandboxRequest,
                 env: dict[str, str], labels: Mapping[str, str], *,
                 host_files: bool = True) -> None:
        self.client = client
        self.host_files = host_files
        self.request = request
        self.env = env
        self.run_id = uuid.uuid4().hex[:16]
        self.labels = {**labels, LABEL: "1", RUN_LABEL: self.run_id}
        self.container: Container | None = None
        self.volume_path: str | None = None
        self.killed_reason: KillReason | None = None
        self._lock = threading.Lock()
        self._aborted = False

    def abort(self, reason: KillReason) -> None:
        """Kill the container now (from any thread); the first reason wins."""
        with self._lock:
            if self.killed_reason is None:
                self.killed_reason = reason
            self._aborted = True
            container = self.container
        if container is not None:
            with contextlib.suppress(docker.errors.APIError, *UNAVAILABLE_ERRORS):
                self.client.api.kill(container.id)

    def execute(self) -> SandboxResult:
        """Copy in, run, read back, and always clean up."""
        limits = self.request.limits
        volume = None
        with tempfile.TemporaryFile() as spool, ThreadPoolExecutor(1) as pool:
            # The copy is made on the host while the engine starts the container.
            tar = pool.submit(build_work_tar, self.request.workdir, spool,
                              max_bytes=limits.work_bytes, extra_dirs={"audit": SANDBOX_UID})
            try:
                volume = create_work_volume(self.client, f"selfmod-sandbox-{self.run_id}",
                                            self.labels, limits)
                self.volume_path = volume.attrs.get("Mountpoint") if self.host_files else None
                self._start_container(volume.name)
                assert self.container is not None
                copy_in = tar.result()
                spool.seek(0)
                put_work_copy(self.container, self.volume_path, spool)
                return self._run_command(copy_in)
            finally:
                with contextlib.suppress(BaseException):
                    tar.result()  # never close the spool under the copying thread
                self._remove(volume)

    def _start_container(self, volume: str) -> None:
        container = self.client.containers.create(
            self.request.image, ["sleep", "infinity"],
            **build_container_options(self.request.limits, self.labels, volume))
        with self._lock:
            self.container = container
            aborted = self._aborted
        if aborted:
            raise SandboxError("the run was interrupted before it started")
        container.start()

    def _run_command(self, copy_in: CopyReport) -> SandboxResult:
        assert self.container is not None
        api = self.client.api
        exec_id = api.exec_create(self.container.id, list(self.request.command), stdout=True,
                                  stderr=True, environment=self.env, workdir=WORKDIR,
                                  user=f"{SANDBOX_UID}:{SANDBOX_UID}")["Id"]
        timer = threading.Timer(self.request.limits.timeout, self.abort, (KillReason.TIMEOUT,))
        started = time.monotonic()
        timer.start()
        try:
            stdout, stderr = self._read_output(api.exec_start(exec_id, stream=True, demux=True))
        finally:
            timer.cancel()
        wall_time = time.monotonic() - started
        try:
            exit_code = api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.NotFound:
            exit_code = None  # the engine forgets an exec whose container was killed
        return self._finish(exit_code, stdout, stderr, wall_time, copy_in)

    def _read_output(self, chunks: Any) -> tuple[CappedOutput, CappedOutput]:
        cap = self.request.limits.output_bytes
        stdout, stderr = CappedOutput(cap), CappedOutput(cap)
        for out, err in chunks:
            stdout.add(out)
            stderr.add(err)
            if stdout.seen + stderr.seen > self.request.limits.output_kill_bytes:
                self.abort(KillReason.OUTPUT)
        return stdout, stderr

    def _finish(self, exit_code: int | None, stdout: CappedOutput, stderr: CappedOutput,
                wall_time: float, copy_in: CopyReport) -> SandboxResult:
        assert self.container is not None
        running = self.killed_reason is None and self._is_running()
        with ThreadPoolExecutor(3) as pool:
            stats = pool.submit(self._stats) if running else None
            diff = pool.submit(self._diff)
            archive = pool.submit(self._read_back, copy_in) if running else None
            peak, failcnt = stats.result() if stats else (None, 0)
            audit, written = archive.result() if archive else ("", None)
            changes = diff.result() or []
        if exit_code is None or self.killed_reason is not None:
            exit_code = SIGKILL_EXIT
        if self.killed_reason is None and exit_code == SIGKILL_EXIT and (
                failcnt or (peak or 0) >= self.request.limits.memory_bytes or self._oom_killed()):
            self.killed_reason = KillReason.MEMORY
        err_text = stderr.text()
        return SandboxResult(
            exit_code=exit_code, stdout=stdout.text(), stderr=err_text, wall_time=wall_time,
            peak_memory_bytes=peak, killed_reason=self.killed_reason,
            security_violations=build_violations(diff=changes, audit_log=audit, stderr=err_text,
                                                 allowed_roots=(MOUNT, "/tmp")),
            stdout_truncated=stdout.truncated, stderr_truncated=stderr.truncated,
            skipped_paths=copy_in.skipped, written_back=written,
        )

    def _diff(self) -> list[dict[str, Any]]:
        """Return the container's filesystem changes, read from the host when it can."""
        assert self.container is not None
        upper = self.container.attrs.get("GraphDriver", {}).get("Data", {}).get("UpperDir")
        if self.host_files and upper and os.access(upper, os.R_OK | os.X_OK):
            # Same machine as the engine: walking the overlay's upper layer is much faster than
            # the engine's diff, and sees the same changes.
            return list_upper_dir(Path(upper))
        changes: list[dict[str, Any]] = self.container.diff() or []
        return changes

    def _is_running(self) -> bool:
        assert self.container is not None
        state = self.client.api.inspect_container(self.container.id).get("State", {})
        return bool(state.get("Running"))

    def _oom_killed(self) -> bool:
        assert self.container is not None
        state = self.client.api.inspect_container(self.container.id).get("State", {})
        return bool(state.get("OOMKilled"))

    def _stats(self) -> tuple[int | None, int]:
        """Return the container's peak memory and how often it hit its memory limit."""
        assert self.container is not None
        # Same machine as the engine: the cgroup's own counters answer at once, while the
        # engine's stats endpoint can take most of a second.
        found = read_cgroup_memory(self.container.id) if self.host_files else None
        if found is not None:
            return found
        memory = self.container.stats(stream=False, one_shot=True).get("memory_stats", {})
        peak = memory.get("max_usage")
        return (int(peak) if peak else None), int(memory.get("failcnt") or 0)

    def _read_back(self, copy_in: CopyReport) -> tuple[str, Path | None]:
        """Return the audit log and, when asked, mirror the work copy onto the host."""
        assert self.container is not None
        target = self.request.write_back
        if target is None and self.volume_path:
            # Same machine as the engine: take the log from the volume, links unfollowed,
            # rather than through an archive of the engine.
            with contextlib.suppress(OSError):
                log = take_file(Path(self.volume_path), "audit/log", limit=_AUDIT_LIMIT)
                return log.decode("utf-8", "replace"), None
        with tempfile.TemporaryFile() as spool:
            chunks, _ = self.container.get_archive(MOUNT if target else f"{MOUNT}/audit")
            for chunk in chunks:
                spool.write(chunk)
            spool.seek(0)
            name = "sandbox/audit/log" if target else "audit/log"
            audit = read_member(spool, name, limit=_AUDIT_LIMIT).decode("utf-8", "replace")
            if target is None:
                return audit, None
            spool.seek(0)
            write_back(spool, target, keep=set(copy_in.skipped), root_name="sandbox/work")
        return audit, target

    def _remove(self, volume: Any) -> None:
        container = self.container
        if container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
        if volume is not None:
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)


class CappedOutput:
    """Keep the first `cap` bytes of a stream and count the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.seen = 0
        self._parts: list[bytes] = []

    def add(self, data: bytes | None) -> None:
        if not data:
            return
        room = self.cap - min(self.seen, self.cap)
        if room > 0:
            self._parts.append(data[:room])
        self.seen += len(data)

    @property
    def truncated(self) -> bool:
        return self.seen > self.cap

    def text(self) -> str:
        return b"".join(self._parts).decode("utf-8", "replace")


def read_cgroup_memory(container_id: str) -> tuple[int, int] | None:
    """Return (peak bytes, limit hits) from the host's cgroup v1 files, or None when absent."""
    for root in (Path("/sys/fs/cgroup/memory/docker"),
                 Path("/sys/fs/cgroup/memory/system.slice") / f"docker-{container_id}.scope"):
        folder = root / container_id if root.name == "docker" else root
        try:
            peak = int((folder / "memory.max_usage_in_bytes").read_text())
            failcnt = int((folder / "memory.failcnt").read_text())
        except (OSError, ValueError):
            continue
        return peak, failcnt
    return None


def list_upper_dir(upper: Path) -> list[dict[str, Any]]:
    """Return an overlay upper layer's entries in the engine's diff shape, links unfollowed."""
    changes: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(upper, followlinks=False):
        for name in [*dirnames, *filenames]:
            changes.append({"Path": "/" + os.path.relpath(os.path.join(dirpath, name), upper),
                            "Kind": 0 if name in dirnames else 1})
    return changes


def put_work_copy(container: Container, volume_path: str | None, spool: IO[bytes]) -> None:
    """Unpack a work copy tar into the container's (mounted) work volume."""
    if volume_path and os.path.ismount(volume_path):
        # Same machine as the engine: unpack into the volume directly, saving an API round trip.
        extract_work_tar(spool, Path(volume_path))
    elif not container.put_archive(MOUNT, spool):
        raise SandboxError("the engine refused the work copy")


def sandbox_labels(owner: str | None) -> dict[str, str]:
    """Return the labels that mark this process's containers, and an owner's when given."""
    labels = {}
    identity = process_identity()
    if identity is not None:
        labels[PROCESS_LABEL] = identity
    if owner is None:
        return labels
    if not owner or "=" in owner or len(owner) > 128:
        raise SandboxError("a sandbox owner is a short name without '='")
    return {**labels, OWNER_LABEL: owner}


def process_identity(pid: int | None = None) -> str | None:
    """Return "<host>/<boot id>/<pid>/<start tick>" naming a live process of this machine.

    The start tick tells a process from a later one given the same id. None when the process
    does not exist, or when this machine does not say (no /proc).
    """
    number = os.getpid() if pid is None else pid
    try:
        boot = _BOOT_ID.read_text().strip()
        stat = Path(f"/proc/{number}/stat").read_text()
    except OSError:
        return None
    # Field 22, the start time, counted after the command name (which may hold spaces).
    start = stat.rpartition(")")[2].split()[19]
    return f"{socket.gethostname()}/{boot}/{number}/{start}"


def is_orphan(identity: str) -> bool:
    """Tell whether a container's process label names a process of this machine that ended.

    Only a certain answer counts: another machine, another boot, an unreadable /proc or a
    malformed label all say no (the age-based sweep is for those).
    """
    parts = identity.split("/")
    mine = process_identity()
    if len(parts) != 4 or not parts[2].isdigit() or mine is None:
        return False
    if parts[:2] != mine.split("/")[:2]:
        return False
    try:
        Path(f"/proc/{parts[2]}/stat").stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # hidden from us: perhaps alive
    current = process_identity(int(parts[2]))
    return current is not None and current != identity  # the id now names a later process


def remove_orphans(client: docker.DockerClient) -> int:
    """Remove the sandbox containers and volumes whose process on this machine has ended."""
    answers: dict[str, bool] = {}

    def orphaned(labels: Mapping[str, str] | None) -> bool:
        identity = (labels or {}).get(PROCESS_LABEL, "")
        if identity not in answers:
            answers[identity] = is_orphan(identity)
        return answers[identity]

    removed = 0
    for container in client.containers.list(all=True, filters={"label": [LABEL, PROCESS_LABEL]}):
        if orphaned(container.labels):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                removed += 1
    for volume in client.volumes.list(filters={"label": [LABEL, PROCESS_LABEL]}):
        if orphaned(volume.attrs.get("Labels")):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                volume.remove()
                removed += 1
    return removed


def remove_leftovers(client: docker.DockerClient, *, owner: str | None = None,
                     older_than: float | None = None, now: float | None = None) -> int:
    """Remove sandbox containers and volumes left by a crash; return how many.

    With `owner`, only that owner's (call it when that worker starts); with `older_than`
    seconds, only containers created that long ago (a sweeper for crashed workers that never
    come back; give it more than the longest timeout). Volumes go when no container uses them.
    """
    labels = [f"{OWNER_LABEL}={owner}"] if owner is not None else [LABEL]
    cutoff = None if older_than is None else (now if now is not None else time.time()) - older_than
    removed = 0
    for container in client.containers.list(all=True, filters={"label": labels}):
        if cutoff is not None and _created_at(container) > cutoff:
            continue
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
            removed += 1
    for volume in client.volumes.list(filters={"label": labels}):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            # A volume still in use (a live run of another owner) is refused by the engine.
            volume.remove()
            removed += 1
    return removed


def _created_at(container: Container) -> float:
    text = str(container.attrs.get("Created", ""))
    try:
        return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0
