"""Tests of `selfmod verify`: a good commit, a tampered one, the public key, bad input."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import load_settings
from bot.vcs.commit import Author, create_signed_commit, write_tree
from bot.vcs.keys import key_path, load_or_create_key
from bot.vcs.message import CommitFacts
from bot.vcs.objects import resolve_commit
from bot.vcs.safegit import SafeGit


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point selfmod's data folder (and so its key) at the test folder."""
    folder = tmp_path / "data"
    monkeypatch.setenv("SELFMOD_DATA_DIR", str(folder))
    monkeypatch.delenv("SELFMOD_SIGNING_KEY_PATH", raising=False)
    return folder


@pytest.fixture
def app_commit(data_dir: Path, make_repo: Callable[..., Path], git: SafeGit,
               author: Author) -> tuple[Path, str]:
    """Return a repository and a commit the app made with its configured key."""
    key = load_or_create_key(key_path(load_settings({"SELFMOD_DATA_DIR": str(data_dir)})))
    path = make_repo()
    repo = git.open(path)
    base = resolve_commit(git, repo, "HEAD")
    tree = write_tree(git, repo, base, {"app.py": b"x = 2\n"})
    return path, create_signed_commit(git, repo, key, author, tree, [base],
                                      CommitFacts("mod-7", "Change x"))


def test_verify_accepts_the_apps_commit(app_commit: tuple[Path, str],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`selfmod verify <commit> --repo DIR` exits 0 and names the modification."""
    path, commit = app_commit
    assert main(["verify", commit, "--repo", str(path)]) == 0
    assert capsys.readouterr().out == f"{commit}: OK: good Selfmod-Signature (modification mod-7)\n"


def test_verify_rejects_a_tampered_commit(app_commit: tuple[Path, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A copy of the commit with another modification id exits 1 with the reason."""
    path, commit = app_commit
    raw = subprocess.run(["git", "-C", str(path), "cat-file", "commit", commit],
                         capture_output=True, check=True).stdout
    forged = subprocess.run(["git", "-C", str(path), "hash-object", "-t", "commit", "-w",
                             "--stdin"], input=raw.replace(b"mod-7", b"mod-8"),
                            capture_output=True, check=True).stdout.decode().strip()
    assert main(["verify", forged, "--repo", str(path)]) == 1
    assert "FAILED: the signature does not match" in capsys.readouterr().out


def test_public_key_prints_the_key_and_an_allowed_signers_line(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--public-key` makes the key on first use and prints it twice over."""
    assert main(["verify", "--public-key"]) == 0
    key, line = capsys.readouterr().out.splitlines()
    assert key.startswith("ssh-ed25519 ")
    assert line == f'agent-self-modify@users.noreply.github.com namespaces="git" {key}'
    assert (data_dir / "signing_key").stat().st_mode & 0o777 == 0o600


def test_verify_outside_a_repository_is_a_clear_error(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that is not a repository is named in the error."""
    load_or_create_key(data_dir / "signing_key")
    assert main(["verify", "HEAD", "--repo", str(tmp_path)]) == 1
    assert "is not a git repository" in capsys.readouterr().err


def test_verify_of_an_unknown_commit_is_a_clear_error(
        app_commit: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    """A commit id that does not exist is named in the error."""
    path, _ = app_commit
    assert main(["verify", "0123abc", "--repo", str(path)]) == 1
    assert "unknown commit '0123abc'" in capsys.readouterr().err


def test_verify_without_a_key_says_so(data_dir: Path, make_repo: Callable[..., Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Verifying before any key exists names the missing key instead of making one."""
    assert main(["verify", "HEAD", "--repo", str(make_repo())]) == 2
    assert "no signing key" in capsys.readouterr().err
    assert not (data_dir / "signing_key").exists()


def test_verify_without_a_commit_is_a_usage_error(data_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Neither a commit nor --public-key is a usage error."""
    assert main(["verify"]) == 2
    assert "name a commit" in capsys.readouterr().err
