"""The scripts a session runs inside its container to keep one run from the next.

Both run as the sandbox user under `python3 -I -S` (no site, no path or variables from the work
copy or the environment), with the interpreter the image had when the container started (the
root filesystem is read-only, so the command cannot replace it). Each kills every other process of
the sandbox user (the container's init and idle process are root's and survive) and empties /tmp
and the audit folder.

The wrapper runs the command as its child and cleans up after it, so a run costs one exec. It can
vouch for the cleanup only by exiting normally: it blocks every signal it can, makes itself
non-dumpable (the command, same uid, cannot ptrace it or read its memory), and kills itself on any
error. So an exit code of 128 or more (a death by signal, its own or the command's) proves
nothing, and the host then runs the reset script as its own exec; the host also counts the
container's processes after either.
"""

from __future__ import annotations

_COMMON = r"""
import os, signal, stat, sys, time
ME, UID = os.getpid(), os.getuid()

def others():
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != ME:
            try:
                if os.stat("/proc/" + name).st_uid == UID:
                    found.append(name)
            except OSError:
                pass
    return found

def kill_others():
    for _ in range(400):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if not others():
            return
        time.sleep(0.005)
    raise OSError("processes of the sandbox user survive")

def wipe(path, keep=()):
    for name in os.listdir(path):
        full = os.path.join(path, name)
        st = os.lstat(full)
        if name in keep or st.st_uid != UID:
            continue
        if stat.S_ISDIR(st.st_mode):
            os.chmod(full, 0o700)
            wipe(full)
            os.rmdir(full)
        else:
            os.unlink(full)
"""

# argv: AUDIT_DIR TMP -- COMMAND...; exit code: the command's (128+N for a signal N).
WRAPPER_SCRIPT = _COMMON + r"""
try:
    import ctypes
    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0
        raise OSError("prctl")
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    audit, tmp, sep, *command = sys.argv[1:]
    pid = os.fork()
    if pid == 0:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, ("cannot run %s: %s\n" % (command[0], exc.strerror)).encode())
        os._exit(127)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    code = 128 - code if code < 0 else min(code, 255)
    kill_others()
    wipe(tmp)
    wipe(audit, keep=("log",))
except BaseException:
    os.kill(ME, signal.SIGKILL)
os._exit(code)
"""

# argv: AUDIT_LOG_LIMIT AUDIT_DIR FOLDER...; prints the audit log, then empties the folders.
RESET_SCRIPT = _COMMON + r"""
limit, audit, *folders = sys.argv[1:]
kill_others()
try:
    fd = os.open(os.path.join(audit, "log"), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
except OSError:
    pass
else:
    if stat.S_ISREG(os.fstat(fd).st_mode):
        sys.stdout.buffer.write(os.read(fd, int(limit)))
    os.close(fd)
for folder in (audit, *folders):
    wipe(folder)
"""
