"""Sandbox tripwire: log network and out-of-bounds write attempts of Python code for the host.

This is detection, not enforcement: the container has no network and a read-only root whatever
this file does, and code that runs `python -I`, a non-Python binary, or deletes the log escapes
the log (never the sandbox). Loaded by the venv's `site` at interpreter start,
through selfmod_audit.pth (Debian's own sitecustomize would shadow a sitecustomize.py).
"""

import contextlib
import os
import sys


def _install() -> None:
    log_path = os.environ.get("SELFMOD_AUDIT_LOG")
    if not log_path:
        return
    allowed = tuple(p for p in os.environ.get("SELFMOD_AUDIT_ALLOW", "").split(":") if p)
    try:
        # Opened once and kept: later chdir/umask games do not move it.
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    write_events = {"os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.symlink", "os.link",
                    "os.chmod", "os.chown", "os.truncate", "os.utime", "shutil.rmtree"}
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def note(kind, detail):
        with contextlib.suppress(OSError):
            os.write(fd, (kind + "\t" + str(detail).replace("\n", " ")[:300] + "\n").encode())

    def is_local(host):
        return host in ("", "localhost", "::1", "0.0.0.0") or host.startswith(("127.", "/"))

    def outside(path):
        if isinstance(path, int):
            return False
        try:
            text = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return not any(text == a or text.startswith(a.rstrip("/") + "/") for a in allowed)

    def hook(event, args):
        if event == "socket.connect" or event == "socket.sendto":
            address = args[1]
            host = address[0] if isinstance(address, tuple) and address else address
            if isinstance(host, str) and not is_local(host):
                note("network", f"{event} {address!r}")
        elif event == "socket.getaddrinfo":
            host = args[0]
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            if isinstance(host, str) and not is_local(host):
                note("network", f"getaddrinfo {host!r}")
        elif event == "open":
            path, mode, flags = args
            writing = (mode is not None and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writing and outside(path):
                note("write", f"open {path!r} {mode or flags}")
        elif event in write_events and args and outside(args[0]):
            note("write", f"{event} {args[0]!r}")

    sys.addaudithook(hook)


_install()
