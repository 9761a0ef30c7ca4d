"""Moving a work copy into and out of the sandbox without ever following a link.

Into the sandbox: a tar of the host folder made with `lstat` and `O_NOFOLLOW`; a symlink that
leaves the folder, a hardlink shared with a file outside it, and fifos, sockets and devices are
left out (and listed). `.git` goes in owned by root and read-only; the top folder is root-owned
and sticky, so the sandbox user cannot rename `.git` away either.

Out of the sandbox: only regular files and folders are written back, each created fresh under
folder descriptors opened with `O_NOFOLLOW` (a symlink planted on the host side is replaced, never
written through); modes lose set-id and sticky bits; `.git` is never written on the host; links,
fifos and devices the command made are dropped (and listed).
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bot.errors import SandboxError

SANDBOX_UID = 10001
WORK_NAME = "work"
GIT_DIR = ".git"
_CHUNK = 1 << 20


@dataclass
class CopyReport:
    """What a copy left out, by relative path and reason."""

    skipped: dict[str, str] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class _Entry:
    rel: str
    st: os.stat_result
    link: str | None = None


def build_work_tar(source: Path, out: IO[bytes], *, max_bytes: int,
                   extra_dirs: dict[str, int] | None = None) -> CopyReport:
    """Write a tar of `source` as `work/` for the sandbox; raise when it exceeds `max_bytes`.

    `extra_dirs` adds empty private folders beside `work/`, by name and owner uid.
    """
    root = source.resolve()
    if not root.is_dir():
        raise SandboxError(f"work folder {source} is not a directory")
    report = CopyReport()
    entries = list(_walk(root, report))
    inside_links = _count_inodes(entries)
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        # The top folder: root-owned and sticky, so `.git` (root's) cannot be renamed away.
        tar.addfile(_info(WORK_NAME, tarfile.DIRTYPE, 0o1777, uid=0))
        for name, uid in (extra_dirs or {}).items():
            tar.addfile(_info(name, tarfile.DIRTYPE, 0o700, uid=uid))
        for entry in entries:
            _add_entry(tar, root, entry, inside_links, report, max_bytes)
    return report


def _walk(root: Path, report: CopyReport) -> Iterator[_Entry]:
    """Yield every entry under root, depth first, never descending through a symlink."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(root / rel_dir if rel_dir else root) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            st = child.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(root / rel)
                if _link_stays_inside(rel, target):
                    yield _Entry(rel, st, target)
                else:
                    report.skipped[rel] = "symlink leaving the work folder"
            elif stat.S_ISDIR(st.st_mode):
                yield _Entry(rel, st)
                stack.append(rel)
            elif stat.S_ISREG(st.st_mode):
                yield _Entry(rel, st)
            else:
                report.skipped[rel] = "not a regular file, folder or symlink"


def _link_stays_inside(rel: str, target: str) -> bool:
    """Tell whether a relative symlink at `rel` resolves, lexically, inside the folder."""
    if os.path.isabs(target):
        return False
    depth = rel.count("/")
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def _count_inodes(entries: list[_Entry]) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for entry in entries:
        if stat.S_ISREG(entry.st.st_mode):
            key = (entry.st.st_dev, entry.st.st_ino)
            counts[key] = counts.get(key, 0) + 1
    return counts


def _add_entry(tar: tarfile.TarFile, root: Path, entry: _Entry,
               inside_links: dict[tuple[int, int], int], report: CopyReport,
               max_bytes: int) -> None:
    in_git = entry.rel == GIT_DIR or entry.rel.startswith(GIT_DIR + "/")
    uid = 0 if in_git else SANDBOX_UID
    name = f"{WORK_NAME}/{entry.rel}"
    if entry.link is not None:
        info = _info(name, tarfile.SYMTYPE, 0o777, uid=uid)
        info.linkname = entry.link
        tar.addfile(info)
    elif stat.S_ISDIR(entry.st.st_mode):
        tar.addfile(_info(name, tarfile.DIRTYPE, 0o755, uid=uid))
    else:
        # A hardlink whose other names are all inside is fine; one shared with an outside file
        # could carry a host file's content in, so it stays out.
        if entry.st.st_nlink > inside_links[(entry.st.st_dev, entry.st.st_ino)]:
            report.skipped[entry.rel] = "hardlink shared with a file outside the work folder"
            return
        report.bytes += entry.st.st_size
        if report.bytes > max_bytes:
            raise SandboxError(
                f"the work folder is larger than the sandbox's work size limit ({max_bytes} bytes)"
            )
        fd = os.open(root / entry.rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            mode = 0o755 if entry.st.st_mode & 0o111 else 0o644
            info = _info(name, tarfile.REGTYPE, mode, uid=uid)
            info.size = size
            tar.addfile(info, handle)
        report.files += 1


def _info(name: str, kind: bytes, mode: int, *, uid: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = uid
    info.mtime = 0
    return info


def write_back(stream: IO[bytes], target: Path, *, keep: set[str],
               root_name: str = WORK_NAME) -> CopyReport:
    """Mirror the sandbox's `work/` tar onto `target`: write files, drop what disappeared.

    Entries in `keep` (what the copy in left out) are neither written nor removed; `.git` on the
    host is never touched.
    """
    target.mkdir(parents=True, exist_ok=True)
    report = CopyReport()
    seen: set[str] = set()
    saw_root = False
    root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                saw_root = saw_root or member.name.strip("/") == root_name
                rel = _relative(member.name, root_name)
                if rel is None or _is_git(rel) or rel in keep:
                    continue
                if member.isdir():
                    _ensure_dir(root_fd, rel)
                    seen.add(rel)
                elif member.isreg():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    _write_file(root_fd, rel, handle, member.mode)
                    report.files += 1
                    report.bytes += member.size
                    seen.add(rel)
                else:
                    report.skipped[rel] = "not a regular file or folder"
                    seen.add(rel)
        if not saw_root:
            # An empty or foreign archive must never be mirrored as "everything was deleted".
            raise SandboxError(f"the sandbox returned no {root_name}/ folder")
        _remove_absent(root_fd, "", seen | keep)
    finally:
        os.close(root_fd)
    return report


def _relative(name: str, root_name: str) -> str | None:
    """Return the path under root_name, or None for anything else or anything suspicious."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    head = root_name.split("/")
    if parts[: len(head)] != head or ".." in parts:
        return None
    return "/".join(parts[len(head):]) or None


def _is_git(rel: str) -> bool:
    return rel == GIT_DIR or rel.startswith(GIT_DIR + "/")


def _open_parent(root_fd: int, rel: str) -> tuple[int, str]:
    """Open (creating) the parent folder of rel under root_fd without following links."""
    *dirs, name = rel.split("/")
    fd = os.dup(root_fd)
    try:
        for part in dirs:
            child = _open_or_make_dir(fd, part)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd, name


def _open_or_make_dir(dir_fd: int, name: str) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    else:
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dir_fd)
            os.mkdir(name, 0o755, dir_fd=dir_fd)
    return os.open(name, flags, dir_fd=dir_fd)


def _ensure_dir(root_fd: int, rel: str) -> None:
    parent, name = _open_parent(root_fd, rel)
    try:
        os.close(_open_or_make_dir(parent, name))
    finally:
        os.close(parent)


def _write_file(root_fd: int, rel: str, handle: IO[bytes], mode: int) -> None:
    parent, name = _open_parent(root_fd, rel)
    try:
        data = handle.read()
        if _same_regular_file(parent, name, data):
            return
        _remove_at(parent, name)
        # Created fresh: a hardlink or symlink that stood here is replaced, never written through.
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o755 if mode & 0o111 else 0o644, dir_fd=parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    finally:
        os.close(parent)


def _same_regular_file(dir_fd: int, name: str, data: bytes) -> bool:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data) or st.st_nlink != 1:
            return False
        return handle.read() == data


def _remove_at(dir_fd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        _remove_tree(dir_fd, name)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _remove_tree(dir_fd: int, name: str) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                 dir_fd=dir_fd)
    try:
        for child in os.listdir(fd):
            _remove_at(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def _remove_absent(dir_fd: int, rel_dir: str, present: set[str]) -> None:
    """Remove what is on the host but no longer in the sandbox's copy (never `.git`)."""
    for name in os.listdir(dir_fd):
        rel = f"{rel_dir}/{name}" if rel_dir else name
        if _is_git(rel):
            continue
        if rel not in present:
            _remove_at(dir_fd, name)
            continue
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=dir_fd)
            try:
                _remove_absent(fd, rel, present)
            finally:
                os.close(fd)


def read_member(stream: IO[bytes], name: str, *, limit: int) -> bytes:
    """Return the first `limit` bytes of one regular file in a tar stream, or b"" when absent."""
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if member.isreg() and member.name.strip("/") == name:
                handle = tar.extractfile(member)
                return handle.read(limit) if handle else b""
    return b""



def take_file(root: Path, rel: str, *, limit: int) -> bytes:
    """Return up to `limit` bytes of a regular file under root and remove it; b"" when absent.

    No link is followed on the way, so a sandbox that plants a symlink or a fifo there gets an
    OSError raised rather than a host file read.
    """
    *dirs, name = rel.split("/")
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, flags)
    try:
        for part in dirs:
            child = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = child
        try:
            file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                              dir_fd=fd)
        except FileNotFoundError:
            return b""
        with os.fdopen(file_fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise OSError(f"{rel} is not a regular file")
            data = handle.read(limit)
        os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
    return data


def extract_work_tar(stream: IO[bytes], target: Path) -> None:
    """Unpack a tar made by build_work_tar into the (empty) mounted volume folder `target`.

    The engine's own archive upload does the same through the API; on the engine's machine this
    is quicker. Only folders, regular files and symlinks are made, each created fresh under folder
    descriptors opened without following links, with the tar's owner and mode.
    """
    root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.name.startswith("/") or ".." in parts or "" in parts:
                    raise SandboxError(f"unexpected path in the work copy: {member.name!r}")
                parent, name = _open_parent(root_fd, member.name)
                try:
                    _extract_member(tar, member, parent, name)
                finally:
                    os.close(parent)
    finally:
        os.close(root_fd)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int,
                    name: str) -> None:
    if member.isdir():
        os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)
    elif member.issym():
        os.symlink(member.linkname, name, dir_fd=parent)
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        return
    elif member.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent)
        source = tar.extractfile(member)
        assert source is not None
        with open(fd, "wb", closefd=False) as out:
            while chunk := source.read(_CHUNK):
                out.write(chunk)
    else:
        raise SandboxError(f"unexpected entry in the work copy: {member.name!r}")
    try:
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode)
    finally:
        os.close(fd)


def remove_entry(target: Path, name: str) -> None:
    """Remove `name` (a file or a whole folder) in `target`, following no link."""
    root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _remove_at(root_fd, name)
    finally:
        os.close(root_fd)
