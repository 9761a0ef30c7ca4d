"""Moving work copies on the host side: unpacking into a volume, taking files out of one."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from bot.errors import SandboxError
from bot.sandbox.workcopy import (
    SANDBOX_UID,
    build_work_tar,
    extract_work_tar,
    remove_entry,
    take_file,
)


def test_a_work_tar_unpacks_with_its_owners_and_modes(tmp_path: Path) -> None:
    """Folders, files and inside symlinks arrive as the engine's upload would make them."""
    source, target = tmp_path / "src", tmp_path / "volume"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "mod.py").write_text("x = 1\n")
    (source / "run.sh").write_text("#!/bin/sh\n")
    (source / "run.sh").chmod(0o755)
    (source / "link").symlink_to("pkg/mod.py")
    (source / ".git").mkdir()
    target.mkdir()
    spool = io.BytesIO()
    build_work_tar(source, spool, max_bytes=1 << 20, extra_dirs={"audit": SANDBOX_UID})
    spool.seek(0)
    extract_work_tar(spool, target)
    work = target / "work"
    assert (work.stat().st_uid, work.stat().st_mode & 0o7777) == (0, 0o1777)
    assert (target / "audit").stat().st_uid == SANDBOX_UID
    assert (work / "pkg" / "mod.py").read_text() == "x = 1\n"
    assert (work / "pkg" / "mod.py").stat().st_uid == SANDBOX_UID
    assert (work / "run.sh").stat().st_mode & 0o777 == 0o755
    assert os.readlink(work / "link") == "pkg/mod.py"
    assert (work / ".git").stat().st_uid == 0


@pytest.mark.parametrize("name", ["../escape", "/etc/evil", "work//x"])
def test_an_archive_with_a_bad_path_is_refused(tmp_path: Path, name: str) -> None:
    """Only the relative paths build_work_tar makes are unpacked."""
    spool = io.BytesIO()
    with tarfile.open(fileobj=spool, mode="w") as tar:
        tar.addfile(tarfile.TarInfo(name), io.BytesIO(b""))
    spool.seek(0)
    with pytest.raises(SandboxError, match="unexpected path"):
        extract_work_tar(spool, tmp_path)


def test_an_archive_with_a_device_is_refused(tmp_path: Path) -> None:
    """Only folders, regular files and symlinks are made."""
    spool = io.BytesIO()
    with tarfile.open(fileobj=spool, mode="w") as tar:
        info = tarfile.TarInfo("work")
        info.type = tarfile.CHRTYPE
        tar.addfile(info)
    spool.seek(0)
    with pytest.raises(SandboxError, match="unexpected entry"):
        extract_work_tar(spool, tmp_path)


def test_taking_a_file_reads_and_removes_it(tmp_path: Path) -> None:
    """A regular file is read up to the limit and removed; an absent one is empty."""
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "log").write_text("network\tx\n" * 10)
    assert take_file(tmp_path, "audit/log", limit=8) == b"network\t"
    assert not (tmp_path / "audit" / "log").exists()
    assert take_file(tmp_path, "audit/log", limit=8) == b""


def test_taking_a_planted_link_or_fifo_fails_without_following_it(tmp_path: Path) -> None:
    """A symlink to a host file, a fifo, or a linked folder on the way is never read."""
    secret = tmp_path / "secret"
    secret.write_text("SECRET")
    (tmp_path / "vol" / "audit").mkdir(parents=True)
    (tmp_path / "vol" / "audit" / "log").symlink_to(secret)
    with pytest.raises(OSError):
        take_file(tmp_path / "vol", "audit/log", limit=100)
    assert secret.read_text() == "SECRET" and (tmp_path / "vol" / "audit" / "log").is_symlink()
    os.unlink(tmp_path / "vol" / "audit" / "log")
    os.mkfifo(tmp_path / "vol" / "audit" / "log")
    with pytest.raises(OSError, match="not a regular file"):
        take_file(tmp_path / "vol", "audit/log", limit=100)
    (tmp_path / "vol2").mkdir()
    (tmp_path / "vol2" / "audit").symlink_to(tmp_path / "vol" / "audit")
    with pytest.raises(OSError):
        take_file(tmp_path / "vol2", "audit/log", limit=100)


def test_removing_an_entry_never_follows_links(tmp_path: Path) -> None:
    """A folder holding a symlink to a host folder is removed; the host folder stays."""
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "file").write_text("kept")
    (tmp_path / "vol" / "work" / "deep").mkdir(parents=True)
    (tmp_path / "vol" / "work" / "deep" / "out").symlink_to(keep)
    remove_entry(tmp_path / "vol", "work")
    assert not (tmp_path / "vol" / "work").exists()
    assert (keep / "file").read_text() == "kept"
