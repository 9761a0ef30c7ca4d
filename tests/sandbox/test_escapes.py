"""Escape attempts against the real sandbox, each judged from the host side."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.limits import MIB, SandboxLimits
from bot.sandbox.runner import KillReason, SandboxRequest, SandboxResult, SandboxRunner
from bot.sandbox.violations import ViolationKind

pytestmark = pytest.mark.docker

LIMITS = SandboxLimits(timeout=20, memory_bytes=128 * MIB, pids=64, tmp_bytes=8 * MIB,
                       work_bytes=16 * MIB, output_bytes=64 * 1024, output_kill_bytes=4 * MIB)


@dataclass
class Ctx:
    """What a judge sees: the result, the host work folder and the canaries."""

    result: SandboxResult
    workdir: Path
    canary: dict[str, str]

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    def no_secret(self) -> None:
        for secret in (self.canary["env"], self.canary["file_content"]):
            assert secret not in self.output
            canary_inode = Path(self.canary["file"]).stat().st_ino
            for path in self.workdir.rglob("*"):
                # The host's own hardlink of the canary, planted by a setup, is not a leak.
                if path.is_file() and not path.is_symlink() and path.stat().st_ino != canary_inode:
                    assert secret not in path.read_text(errors="replace")


@dataclass
class Attack:
    """One escape attempt: files to plant, the script, and how the host judges it."""

    name: str
    script: str
    judge: Callable[[Ctx], None]
    setup: Callable[[Path, dict[str, str]], None] = lambda _w, _c: None
    limits: SandboxLimits = LIMITS
    argv: list[str] = field(default_factory=lambda: ["python", "attack.py"])


def _py(code: str) -> str:
    return textwrap.dedent(code)


def _judge_all(*checks: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def judge(ctx: Ctx) -> None:
        ctx.no_secret()
        for check in checks:
            check(ctx)
    return judge


def _not_in_output(*words: str) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        for word in words:
            assert word not in ctx.output, ctx.output
    return check


def _in_output(*words: str) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        for word in words:
            assert word in ctx.output, ctx.output
    return check


def _violation(kind: ViolationKind) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        assert any(v.kind is kind for v in ctx.result.security_violations), ctx.result
    return check


def _true(predicate: Callable[[Ctx], bool]) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        assert predicate(ctx), ctx.result
    return check


def _killed(reason: KillReason) -> Callable[[Ctx], None]:
    def check(ctx: Ctx) -> None:
        assert ctx.result.killed_reason is reason, ctx.result
    return check


def _canary_file_intact(ctx: Ctx) -> None:
    assert Path(ctx.canary["file"]).read_text() == ctx.canary["file_content"]


def _symlink_to_canary(workdir: Path, canary: dict[str, str]) -> None:
    (workdir / "secret").symlink_to(canary["file"])


def _symlink_up(workdir: Path, canary: dict[str, str]) -> None:
    (workdir / "up").symlink_to("..")


def _hardlink_to_canary(workdir: Path, canary: dict[str, str]) -> None:
    os.link(canary["file"], workdir / "secret")


def _host_symlink_dir(workdir: Path, canary: dict[str, str]) -> None:
    # A folder symlink on the host side pointing out; the command writes through its name.
    (workdir / "out").symlink_to(Path(canary["file"]).parent)


def _git_repo(workdir: Path, canary: dict[str, str]) -> None:
    (workdir / ".git" / "hooks").mkdir(parents=True)
    (workdir / ".git" / "config").write_text("[core]\n")


CONNECT = _py("""
    import socket
    for host in ("1.1.1.1", "8.8.8.8", "172.17.0.1"):
        try:
            socket.create_connection((host, 53), timeout=2)
            print("CONNECTED", host)
        except OSError as exc:
            print("refused", host, exc)
""")

ATTACKS = [
    Attack("network_connect_ip", CONNECT,
           _judge_all(_not_in_output("CONNECTED"), _violation(ViolationKind.NETWORK))),
    Attack("network_connect_no_audit_hook", CONNECT,
           _judge_all(_not_in_output("CONNECTED")), argv=["python", "-I", "attack.py"]),
    Attack("network_dns", _py("""
        import socket
        try:
            print("RESOLVED", socket.getaddrinfo("pypi.org", 443))
        except OSError as exc:
            print("no dns", exc)
    """), _judge_all(_not_in_output("RESOLVED"), _violation(ViolationKind.NETWORK))),
    Attack("network_interfaces", _py("""
        print(open("/proc/net/dev").read())
        print(open("/proc/net/route").read())
    """), _judge_all(_in_output("lo:"), _not_in_output("eth0", "docker0"))),
    Attack("network_udp_sendto", _py("""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"x", ("8.8.8.8", 53)); print("SENT")
        except OSError as exc:
            print("unsent", exc)
    """), _judge_all(_not_in_output("SENT"), _violation(ViolationKind.NETWORK))),
    Attack("read_host_file_by_path", _py("""
        import sys
        try:
            print(open(sys.argv[1]).read())
        except OSError as exc:
            print("unreadable", exc)
    """), _judge_all(_in_output("unreadable"))),
    Attack("read_host_identity", _py("""
        print(open("/etc/hostname").read())
        import os
        print(sorted(os.listdir("/")))
    """), _judge_all(_in_output("sandbox"), _not_in_output("'work'", "'root'", "'home'"))),
    Attack("write_outside_work_copy", _py("""
        import os
        for path in ("/etc/evil", "/usr/lib/evil", "/evil", "/opt/venv/evil", "/var/tmp/evil"):
            try:
                open(path, "w").write("x"); print("WROTE", path)
            except OSError as exc:
                print("denied", path, exc)
    """), _judge_all(_not_in_output("WROTE"), _violation(ViolationKind.WRITE_OUTSIDE),
                     _true(lambda ctx: not Path("/evil").exists()
                           and not Path("/etc/evil").exists()))),
    Attack("symlink_in_repo_to_host_file", _py("""
        import os
        print(os.path.lexists("secret"))
        try:
            print(open("secret").read())
        except OSError as exc:
            print("unreadable", exc)
    """), _judge_all(_true(lambda ctx: ctx.result.skipped_paths.get("secret") is not None)),
           setup=_symlink_to_canary),
    Attack("symlink_in_repo_to_parent", _py("""
        import os
        print(os.listdir("up") if os.path.exists("up") else "NO UP")
    """), _judge_all(_in_output("NO UP"), _not_in_output("host-secret")), setup=_symlink_up),
    Attack("hardlink_in_repo_to_host_file", _py("""
        import os
        print(open("secret").read() if os.path.exists("secret") else "no secret")
    """), _judge_all(_in_output("no secret")), setup=_hardlink_to_canary),
    Attack("plant_symlink_for_host", _py("""
        import os, sys
        os.symlink(sys.argv[1], "planted")
        os.symlink("/etc/passwd", "passwd")
        os.mkfifo("fifo")
        print("planted")
    """), _judge_all(_canary_file_intact,
                     _true(lambda ctx: not any((ctx.workdir / n).is_symlink()
                                               for n in ("planted", "passwd"))),
                     _true(lambda ctx: not os.path.lexists(ctx.workdir / "fifo")))),
    Attack("write_through_host_symlinked_folder", _py("""
        import os
        os.makedirs("out", exist_ok=True)
        open("out/host-secret.txt", "w").write("OVERWRITTEN")
        print("wrote")
    """), _judge_all(_canary_file_intact), setup=_host_symlink_dir),
    Attack("write_through_host_hardlink", _py("""
        open("secret", "w").write("OVERWRITTEN")
    """), _judge_all(_canary_file_intact), setup=_hardlink_to_canary),
    Attack("setid_file_left_for_host", _py("""
        import os, shutil
        shutil.copy("/usr/bin/id", "myid")
        os.chmod("myid", 0o6755)
        print(oct(os.stat("myid").st_mode))
    """), _judge_all(_true(lambda ctx: (ctx.workdir / "myid").stat().st_mode & 0o6000 == 0))),
    Attack("git_hooks_and_config", _py("""
        import os
        for path in (".git/hooks/post-checkout", ".git/config"):
            try:
                open(path, "w").write("#!/bin/sh\\ntouch /tmp/pwned\\n"); print("WROTE", path)
            except OSError as exc:
                print("denied", path, exc)
        try:
            os.rename(".git", "old-git"); os.mkdir(".git"); print("RENAMED")
        except OSError as exc:
            print("denied rename", exc)
    """), _judge_all(_not_in_output("WROTE", "RENAMED"),
                     _true(lambda ctx: (ctx.workdir / ".git/config").read_text() == "[core]\n"),
                     _true(lambda ctx: not (ctx.workdir / ".git/hooks/post-checkout").exists())),
           setup=_git_repo),
    Attack("environment_leak", _py("""
        import os
        print(dict(os.environ))
        print(open("/proc/self/environ", "rb").read())
        print(open("/proc/1/environ", "rb").read() if os.access("/proc/1/environ", os.R_OK) else "")
    """), _judge_all(_not_in_output("SELFMOD_TEST_CANARY", "DOCKER_HOST", "VIRTUAL_ENV=/work"))),
    Attack("proc_host_processes", _py("""
        import os
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        print("PIDS", len(pids))
        for p in pids:
            try:
                print(open(f"/proc/{p}/cmdline", "rb").read())
            except OSError:
                pass
    """), _judge_all(_not_in_output("dockerd", "containerd", "systemd", "sshd"),
                     _true(lambda ctx: int(ctx.result.stdout.split("PIDS ")[1].split()[0]) < 10))),
    Attack("docker_socket", _py("""
        import os, socket
        for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
            print(path, os.path.exists(path))
            try:
                s = socket.socket(socket.AF_UNIX); s.connect(path); print("CONNECTED", path)
            except OSError as exc:
                print("no", exc)
    """), _judge_all(_not_in_output("CONNECTED", "True"))),
    Attack("capabilities_and_user", _py("""
        import os
        status = open("/proc/self/status").read()
        print([l for l in status.splitlines() if l.startswith(("Cap", "NoNewPrivs"))])
        print("UID", os.getuid(), os.geteuid())
        try:
            os.setuid(0); print("BECAME ROOT")
        except OSError as exc:
            print("no setuid", exc)
    """), _judge_all(_in_output("CapEff:\\t0000000000000000", "NoNewPrivs:\\t1", "UID 10001"),
                     _not_in_output("BECAME ROOT"))),
    Attack("setuid_binaries_and_sudo", _py("""
        import os, shutil, stat
        found = []
        for root, dirs, files in os.walk("/", onerror=lambda e: None):
            if root.startswith(("/proc", "/sys")):
                dirs[:] = []
                continue
            for name in files:
                try:
                    if os.lstat(os.path.join(root, name)).st_mode & (stat.S_ISUID | stat.S_ISGID):
                        found.append(os.path.join(root, name))
                except OSError:
                    pass
        print("SETID", found)
        print("sudo", shutil.which("sudo"), "su", shutil.which("su"))
    """), _judge_all(_in_output("SETID []"), _not_in_output("/sudo"))),
    Attack("mount_and_devices", _py("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        r = libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)
        print("MOUNTED" if r == 0 else f"mount denied {ctypes.get_errno()}")
        try:
            os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0)); print("MKNOD")
        except OSError as exc:
            print("mknod denied", exc)
        print(sorted(os.listdir("/dev")))
    """), _judge_all(_not_in_output("MOUNTED", "MKNOD", "'sda'", "'vda'"))),
    Attack("cgroup_release_agent", _py("""
        import glob
        for path in glob.glob("/sys/fs/cgroup/*/release_agent") + ["/proc/sys/kernel/core_pattern"]:
            try:
                open(path, "w").write("/tmp/x"); print("WROTE", path)
            except OSError as exc:
                print("denied", path, exc)
    """), _judge_all(_not_in_output("WROTE"))),
    Attack("fork_bomb", _py("""
        import os, time
        n = 0
        try:
            while True:
                os.fork(); n += 1
        except OSError as exc:
            print("fork stopped", exc)
        time.sleep(60)
    """), _judge_all(_killed(KillReason.TIMEOUT)),
           limits=SandboxLimits(timeout=5, memory_bytes=128 * MIB, pids=32)),
    Attack("memory_bomb", _py("""
        blocks = []
        while True:
            blocks.append(bytearray(16 * 1024 * 1024))
    """), _judge_all(_killed(KillReason.MEMORY),
                     _true(lambda ctx: ctx.result.exit_code == 137))),
    Attack("disk_bomb_work_copy", _py("""
        chunk = b"x" * (1 << 20)
        try:
            with open("big", "wb") as f:
                for _ in range(1000):
                    f.write(chunk)
            print("FILLED")
        except OSError as exc:
            print("stopped", exc)
    """), _judge_all(_not_in_output("FILLED"),
                     _true(lambda ctx: (ctx.workdir / "big").stat().st_size
                           <= LIMITS.work_bytes))),
    Attack("disk_bomb_tmp", _py("""
        chunk = b"x" * (1 << 20)
        try:
            with open("/tmp/big", "wb") as f:
                for _ in range(1000):
                    f.write(chunk)
            print("FILLED")
        except OSError as exc:
            print("stopped", exc)
    """), _judge_all(_not_in_output("FILLED"), _in_output("stopped"))),
    Attack("output_bomb", _py("""
        import sys
        line = "y" * 1023 + "\\n"
        while True:
            sys.stdout.write(line)
    """), _judge_all(_killed(KillReason.OUTPUT),
                     _true(lambda ctx: len(ctx.result.stdout) <= LIMITS.output_bytes),
                     _true(lambda ctx: ctx.result.stdout_truncated))),
    Attack("outlive_the_run", _py("""
        import os, subprocess
        if os.fork() == 0:
            os.setsid()
            subprocess.Popen(["sleep", "1000"], start_new_session=True)
            os._exit(0)
        print("daemon started")
    """), _judge_all(_in_output("daemon started"),
                     _true(lambda ctx: ctx.result.exit_code == 0))),
]


def _run(runner: SandboxRunner, image: str, attack: Attack, workdir: Path,
         canary: dict[str, str]) -> SandboxResult:
    import asyncio

    attack.setup(workdir, canary)
    (workdir / "attack.py").write_text(attack.script)
    request = SandboxRequest(workdir=workdir, command=[*attack.argv, canary["file"]], image=image,
                             limits=attack.limits, write_back=workdir)
    return asyncio.run(runner.run(request))


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_escape_is_contained(attack: Attack, runner: SandboxRunner, sandbox_image: str,
                             workdir: Path, canary: dict[str, str],
                             leftovers: Callable[[], list[Any]]) -> None:
    """The attack fails, leaks no canary, changes nothing on the host, and leaves no container."""
    result = _run(runner, sandbox_image, attack, workdir, canary)
    attack.judge(Ctx(result, workdir, canary))
    _canary_file_intact(Ctx(result, workdir, canary))
    assert leftovers() == []


def test_nothing_survives_into_the_next_run(runner: SandboxRunner, sandbox_image: str,
                                            workdir: Path, canary: dict[str, str]) -> None:
    """A process, a /tmp file or a marker left by one run is not seen by the next."""
    first = _py("""
        import subprocess
        open("/tmp/marker", "w").write("left")
        subprocess.Popen(["sleep", "1000"], start_new_session=True)
        print("left")
    """)
    second = _py("""
        import os
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        procs = [open(f"/proc/{p}/cmdline", "rb").read() for p in pids]
        print("MARKER" if os.path.exists("/tmp/marker") else "no marker")
        print("SLEEPER" if any(b"1000" in c for c in procs) else "no sleeper")
    """)
    _run(runner, sandbox_image, Attack("first", first, _judge_all()), workdir, canary)
    result = _run(runner, sandbox_image, Attack("second", second, _judge_all()), workdir, canary)
    assert "no marker" in result.stdout and "no sleeper" in result.stdout, result.stdout
