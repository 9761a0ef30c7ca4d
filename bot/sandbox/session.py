"""A warm sandbox for one job of one repository: one hardened container, several runs.

A session keeps one container (same hardening as a single run) with its tmpfs work volume and
runs each command with `exec`, which saves the container start and removal of every run. Between
runs nothing is kept but the work copy: each command runs under a wrapper (see reset.py) that,
once the command ends, kills every process of the sandbox user (the idle process is root's,
without capabilities, so it survives) and empties /tmp and the audit folder; when the wrapper
cannot vouch for that (it died by a signal), a separate reset exec does it. The host then checks
from the cgroup that only the idle processes are left, and takes the audit log from the volume
without following links. A reset that fails or leaves a process behind, a timeout or an output
kill discard the container: the next run starts a new one on a fresh copy. A fresh work copy is
put in when a run asks for one (or names another folder).

Never share a session between repositories or jobs: the work copy, and whatever the code under
test wrote into it, stays from one run to the next by design.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from bot.errors import SandboxError
from bot.sandbox.connect import UNAVAILABLE_ERRORS, missing_image, unavailable
from bot.sandbox.limits import SandboxLimits
from bot.sandbox.recorder import ExecutionRecorder, build_record
from bot.sandbox.reset import RESET_SCRIPT, WRAPPER_SCRIPT
from bot.sandbox.runner import (
    LABEL,
    MOUNT,
    RUN_LABEL,
    SIGKILL_EXIT,
    WORKDIR,
    CappedOutput,
    KillReason,
    SandboxRequest,
    SandboxResult,
    build_container_options,
    build_env,
    create_work_volume,
    list_upper_dir,
    put_work_copy,
    read_cgroup_memory,
    run_abortable,
    sandbox_labels,
)
from bot.sandbox.violations import build_violations
from bot.sandbox.workcopy import (
    SANDBOX_UID,
    CopyReport,
    build_work_tar,
    remove_entry,
    take_file,
    write_back,
)

SESSION_LABEL = "org.selfmod.sandbox.session"
_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
# The idle process and the container's init run as root with no capability: the sandbox user
# cannot signal them, and they hold nothing.
_IDLE_USER = "0:0"
_IDLE_PROCESSES = 2
_AUDIT_LIMIT = 256 * 1024
_AUDIT_DIR = f"{MOUNT}/audit"
_CGROUP_ROOTS = ("/sys/fs/cgroup/{controller}/docker/{id}",
                 "/sys/fs/cgroup/{controller}/system.slice/docker-{id}.scope")


class SandboxSession:
    """Several runs in one warm hardened container; use as an async context manager."""

    def __init__(self, client: docker.DockerClient, *, engine_url: str, image: str,
                 limits: SandboxLimits | None = None, recorder: ExecutionRecorder | None = None,
                 host_env: Mapping[str, str] | None = None, owner: str | None = None,
                 host_files: bool = True,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client = client
        self._host_files = host_files  # as for SandboxRunner
        self._labels = sandbox_labels(owner)
        self._engine_url = engine_url
        self.image = image
        self.limits = limits or SandboxLimits()
        self._recorder = recorder
        self._host_env = dict(host_env or {})
        self._clock = clock
        self.session_id = uuid.uuid4().hex[:16]
        self._box: _Box | None = None
        self._lock = asyncio.Lock()
        self.containers_started = 0

    async def __aenter__(self) -> SandboxSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def container_id(self) -> str | None:
        """Return the id of the warm container, if one is up."""
        box = self._box
        return box.container.id if box is not None and box.container is not None else None

    async def run(self, request: SandboxRequest, *, fresh_copy: bool = False) -> SandboxResult:
        """Run one command in the warm container; copy `request.workdir` in when asked or new."""
        self._check(request)
        async with self._lock:
            result = await run_abortable(lambda: self._run_sync(request, fresh_copy),
                                         self._abort)
        if self._recorder is not None:
            await self._recorder(build_record(request, result, now=self._clock()))
        return result

    def _abort(self) -> None:
        box = self._box
        if box is not None:
            box.abort(KillReason.INTERRUPTED)

    async def close(self) -> None:
        """Remove the container and its volume."""
        box, self._box = self._box, None
        if box is not None:
            await asyncio.get_running_loop().run_in_executor(None, box.remove)

    def _check(self, request: SandboxRequest) -> None:
        if request.image != self.image:
            raise SandboxError(f"this session runs {self.image}, not {request.image}")
        if replace(request.limits, timeout=self.limits.timeout) != self.limits:
            raise SandboxError("a session's runs share its limits; only the timeout may differ")

    def _run_sync(self, request: SandboxRequest, fresh_copy: bool) -> SandboxResult:
        try:
            if self._box is None or not self._box.usable:
                if self._box is not None:
                    self._box.remove()
                self._box = _Box(self._client, self.image, self.limits,
                                 {**self._labels, SESSION_LABEL: self.session_id},
                                 host_files=self._host_files)
                self.containers_started += 1
            return self._box.run(request, build_env(request.env, self._host_env), fresh_copy)
        except BaseException as exc:
            # A run that broke off (bad folder, engine error) may have left the copy half made.
            if self._box is not None:
                self._box.usable = False
            if isinstance(exc, UNAVAILABLE_ERRORS):
                raise unavailable(self._engine_url, exc) from exc
            if isinstance(exc, docker.errors.ImageNotFound):
                raise missing_image(self.image, self._engine_url) from None
            raise
        finally:
            if self._box is not None and not self._box.usable:
                self._box.remove()
                self._box = None


class _Box:
    """One warm container with its volume, and the state of the run in it."""

    def __init__(self, client: docker.DockerClient, image: str, limits: SandboxLimits,
                 labels: Mapping[str, str], *, host_files: bool = True) -> None:
        self.client = client
        self.host_files = host_files
        self.limits = limits
        self.usable = True
        self.copied_from: Path | None = None
        self.copy_report = CopyReport()
        self.killed_reason: KillReason | None = None
        self._seen_diff: set[str] = set()
        self._lock = threading.Lock()
        run_id = uuid.uuid4().hex[:16]
        self.labels = {**labels, LABEL: "1", RUN_LABEL: run_id}
        self.volume = create_work_volume(client, f"selfmod-sandbox-{run_id}", self.labels,
                                         limits)
        self.mountpoint: str | None = self.volume.attrs.get("Mountpoint") if host_files else None
        self.container: Container | None = None
        self.python = "python3"
        try:
            self.container = client.containers.create(
                image, ["sleep", "infinity"],
                **build_container_options(limits, self.labels, self.volume.name,
                                          user=_IDLE_USER))
            self.container.start()
            self.python = self._find_python()
        except BaseException:
            self.remove()
            raise

    def _find_python(self) -> str:
        """Return the image's own python3, resolved once while nothing else has run."""
        assert self.container is not None
        found = self.container.exec_run(
            ["python3", "-I", "-S", "-c", "import sys; print(sys.executable)"], user=_USER,
            environment={}, workdir="/")
        path = str(found.output.decode("utf-8", "replace")).strip()
        if found.exit_code != 0 or not path.startswith("/"):
            raise SandboxError(f"the sandbox image has no usable python3: {path[-300:]}")
        return path

    def abort(self, reason: KillReason) -> None:
        """Kill the container now (from any thread); it is not used again."""
        with self._lock:
            if self.killed_reason is None:
                self.killed_reason = reason
            self.usable = False
        if self.container is not None:
            with contextlib.suppress(docker.errors.APIError, *UNAVAILABLE_ERRORS):
                self.client.api.kill(self.container.id)

    def run(self, request: SandboxRequest, env: dict[str, str],
            fresh_copy: bool) -> SandboxResult:
        """Copy in when needed, run the command, reset, and read back."""
        assert self.container is not None
        self.killed_reason = None
        if fresh_copy or self.copied_from != request.workdir:
            self._copy_in(request.workdir)
        counters = self.host_files and _reset_memory_counters(self.container.id)
        timer = threading.Timer(request.limits.timeout, self.abort, (KillReason.TIMEOUT,))
        started = time.monotonic()
        timer.start()
        try:
            exit_code, stdout, stderr = self._exec(
                [self.python, "-I", "-S", "-c", WRAPPER_SCRIPT, _AUDIT_DIR, "/tmp", "--",
                 *request.command], env, WORKDIR, _USER, request.limits)
        finally:
            timer.cancel()
        wall_time = time.monotonic() - started
        peak, failcnt = (read_cgroup_memory(self.container.id) or (None, 0)) if counters \
            else (None, 0)
        audit = self._settle(exit_code) if self.usable else ""
        if exit_code is None or self.killed_reason is not None:
            exit_code = SIGKILL_EXIT
        if self.killed_reason is None and exit_code == SIGKILL_EXIT and (
                failcnt or (peak or 0) >= self.limits.memory_bytes):
            self.killed_reason = KillReason.MEMORY
        written = self._read_back(request.write_back) if self.usable else None
        err_text = stderr.text()
        return SandboxResult(
            exit_code=exit_code, stdout=stdout.text(), stderr=err_text, wall_time=wall_time,
            peak_memory_bytes=peak, killed_reason=self.killed_reason,
            security_violations=build_violations(diff=self._new_diff(), audit_log=audit,
                                                 stderr=err_text, allowed_roots=(MOUNT, "/tmp")),
            stdout_truncated=stdout.truncated, stderr_truncated=stderr.truncated,
            skipped_paths=self.copy_report.skipped, written_back=written)

    def _exec(self, command: list[str], env: dict[str, str], workdir: str, user: str,
              limits: SandboxLimits) -> tuple[int | None, CappedOutput, CappedOutput]:
        assert self.container is not None
        api = self.client.api
        exec_id = api.exec_create(self.container.id, command, stdout=True, stderr=True,
                                  environment=env, workdir=workdir, user=user)["Id"]
        stdout, stderr = CappedOutput(limits.output_bytes), CappedOutput(limits.output_bytes)
        for out, err in api.exec_start(exec_id, stream=True, demux=True):
            stdout.add(out)
            stderr.add(err)
            if stdout.seen + stderr.seen > limits.output_kill_bytes:
                self.abort(KillReason.OUTPUT)
        try:
            code = api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.NotFound:
            code = None  # the engine forgets an exec whose container was killed
        return code, stdout, stderr

    def _settle(self, exit_code: int | None) -> str:
        """Make sure the run left nothing behind; return its audit log."""
        assert self.container is not None
        mountpoint = self.mountpoint
        # A normal exit of the wrapper proves its cleanup ran; anything else gets a reset.
        if exit_code is not None and exit_code < 128 and mountpoint \
                and self._count_processes() <= _IDLE_PROCESSES:
            with contextlib.suppress(OSError):
                log = take_file(Path(mountpoint), "audit/log", limit=_AUDIT_LIMIT)
                return log.decode("utf-8", "replace")
        return self._reset()

    def _reset(self, *extra: str) -> str:
        """Kill the sandbox user's processes, empty /tmp and the audit folder; return the log."""
        assert self.container is not None
        limits = replace(self.limits, output_bytes=_AUDIT_LIMIT, output_kill_bytes=_AUDIT_LIMIT)
        code, out, _err = self._exec(
            [self.python, "-I", "-S", "-c", RESET_SCRIPT, str(_AUDIT_LIMIT), _AUDIT_DIR, "/tmp",
             *extra], {}, "/", _USER, limits)
        if code != 0 or self._count_processes() > _IDLE_PROCESSES:
            # Something fought the reset or survived it: this container is not used again.
            self.usable = False
        return out.text()

    def _count_processes(self) -> int:
        """Return how many processes the container holds: its cgroup, else the engine's top."""
        assert self.container is not None
        path = _cgroup_file("pids", self.container.id, "cgroup.procs") if self.host_files \
            else None
        if path is not None:
            with contextlib.suppress(OSError):
                return len(path.read_text().split())
        return len(self.container.top().get("Processes") or [])

    def _copy_in(self, workdir: Path) -> None:
        assert self.container is not None
        if self.copied_from is not None:
            # The sandbox user removes its files, then root (owner of the rest: the top folder
            # and .git) removes what is left.
            self._reset(WORKDIR)
            if not self.usable:
                raise SandboxError("the session could not reset its container for a fresh copy")
            mountpoint = self.mountpoint
            if mountpoint and os.path.ismount(mountpoint):
                # Same machine: what is left is ours (root's top folder and .git), and no
                # process of the sandbox is alive to change it.
                remove_entry(Path(mountpoint), WORKDIR.rsplit("/", 1)[1])
            else:
                self._root_exec(["rm", "-rf", WORKDIR])
        with tempfile.TemporaryFile() as spool:
            # The audit folder is made with the first copy and stays (emptied) after that.
            first = self.copied_from is None
            self.copy_report = build_work_tar(workdir, spool, max_bytes=self.limits.work_bytes,
                                              extra_dirs={"audit": SANDBOX_UID} if first else {})
            spool.seek(0)
            put_work_copy(self.container, self.mountpoint, spool)
        self.copied_from = workdir

    def _root_exec(self, command: list[str]) -> None:
        """Run a fixed command as the container's root (no capabilities); raise on failure."""
        assert self.container is not None
        result = self.container.exec_run(command, user=_IDLE_USER, workdir="/")
        if result.exit_code != 0:
            self.usable = False
            raise SandboxError(f"the session could not remove the old work copy: "
                               f"{result.output.decode('utf-8', 'replace')[-500:]}")

    def _new_diff(self) -> list[dict[str, Any]]:
        """Return filesystem changes outside the mounts that earlier runs did not report."""
        assert self.container is not None
        upper = self.container.attrs.get("GraphDriver", {}).get("Data", {}).get("UpperDir")
        try:
            changes = list_upper_dir(Path(upper)) if upper and self.host_files \
                else (self.container.diff() or [])
        except OSError:
            changes = self.container.diff() or []
        new = [c for c in changes if c.get("Path") not in self._seen_diff]
        self._seen_diff.update(str(c.get("Path")) for c in changes)
        return new

    def _read_back(self, target: Path | None) -> Path | None:
        assert self.container is not None
        if target is None:
            return None
        with tempfile.TemporaryFile() as spool:
            chunks, _ = self.container.get_archive(WORKDIR)
            for chunk in chunks:
                spool.write(chunk)
            spool.seek(0)
            write_back(spool, target, keep=set(self.copy_report.skipped), root_name="work")
        return target

    def remove(self) -> None:
        """Remove the container and the volume (idempotent)."""
        self.usable = False
        if self.container is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.container.remove(force=True, v=True)
            self.container = None
        with contextlib.suppress(docker.errors.NotFound):
            self.volume.remove(force=True)


def _cgroup_file(controller: str, container_id: str, name: str) -> Path | None:
    for pattern in _CGROUP_ROOTS:
        path = Path(pattern.format(controller=controller, id=container_id)) / name
        if path.exists():
            return path
    return None


def _reset_memory_counters(container_id: str) -> bool:
    """Zero the container's peak memory and limit hits; tell whether the host could."""
    try:
        for name in ("memory.max_usage_in_bytes", "memory.failcnt"):
            path = _cgroup_file("memory", container_id, name)
            if path is None:
                return False
            path.write_text("0")
    except OSError:
        return False
    return True
