"""Tests of the Selfmod-Signature: it verifies offline and fails for every kind of tampering."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import GitError
from bot.vcs.commit import Author, create_signed_commit, write_tree
from bot.vcs.keys import SigningKey, load_or_create_key
from bot.vcs.message import CommitFacts
from bot.vcs.objects import resolve_commit
from bot.vcs.safegit import Repo, SafeGit
from bot.vcs.signature import build_signed_payload, sign_commit_fields, verify_commit


@pytest.fixture
def signed(make_repo: Callable[..., Path], git: SafeGit, key: SigningKey,
           author: Author) -> tuple[Repo, str, str]:
    """Return (repository, base commit, signed commit on it)."""
    repo = git.open(make_repo())
    base = resolve_commit(git, repo, "HEAD")
    tree = write_tree(git, repo, base, {"app.py": b"def f():\n    return 2\n"})
    commit = create_signed_commit(git, repo, key, author, tree, [base],
                                  CommitFacts("mod-1", "Return two", session_id="s1"))
    return repo, base, commit


def _forge(git: SafeGit, repo: Repo, commit: str, old: str, new: str) -> str:
    """Write a copy of a commit object with one piece of text replaced; return its id."""
    raw = git.run(repo, "cat-file", "commit", commit).stdout.decode()
    assert old in raw
    done = subprocess.run(["git", f"--git-dir={repo.git_dir}", "hash-object", "-t", "commit",
                           "-w", "--stdin"], input=raw.replace(old, new, 1).encode(),
                          capture_output=True, check=True)
    return done.stdout.decode().strip()


def test_a_signed_commit_verifies(signed: tuple[Repo, str, str], git: SafeGit,
                                  key: SigningKey) -> None:
    """The app's commit carries a Selfmod-Signature that verifies with its public key."""
    repo, _, commit = signed
    result = verify_commit(git, repo, commit, key.public)
    assert result.ok and result.modification_id == "mod-1"


@pytest.mark.parametrize("part", ["tree", "parent", "id", "signature"])
def test_a_tampered_commit_fails(signed: tuple[Repo, str, str], git: SafeGit, key: SigningKey,
                                 part: str) -> None:
    """Changing the tree, the parent, the modification id or the signature breaks it."""
    repo, base, commit = signed
    raw = git.run(repo, "cat-file", "commit", commit).text
    signature = raw.split("Selfmod-Signature: ")[1].split()[2]
    other_tree = git.run(repo, "rev-parse", f"{base}^{{tree}}").text
    replacements = {
        "tree": (raw.split("\n")[0], f"tree {other_tree}"),
        "parent": (f"parent {base}", f"parent {commit}"),
        "id": ("Self-modification: mod-1:", "Self-modification: mod-2:"),
        "signature": (signature, ("A" if signature[0] != "A" else "B") + signature[1:]),
    }
    forged = _forge(git, repo, commit, *replacements[part])
    result = verify_commit(git, repo, forged, key.public)
    assert not result.ok


def test_another_key_does_not_verify(signed: tuple[Repo, str, str], git: SafeGit,
                                     tmp_path: Path) -> None:
    """A commit signed by the app does not verify under a different key."""
    repo, _, commit = signed
    other = load_or_create_key(tmp_path / "other-key")
    result = verify_commit(git, repo, commit, other.public)
    assert not result.ok and "another key" in result.reason


def test_a_commit_without_the_trailer_fails(make_repo: Callable[..., Path], git: SafeGit,
                                            key: SigningKey) -> None:
    """A developer's ordinary commit is reported as not a self-modification."""
    repo = git.open(make_repo())
    result = verify_commit(git, repo, "HEAD", key.public)
    assert not result.ok and "Self-modification" in result.reason


def test_an_unknown_commit_is_a_clear_error(signed: tuple[Repo, str, str], git: SafeGit,
                                            key: SigningKey) -> None:
    """Verifying a commit that does not exist names it."""
    repo, _, _ = signed
    with pytest.raises(GitError, match="unknown commit 'deadbeef'"):
        verify_commit(git, repo, "deadbeef", key.public)


def test_an_option_is_not_taken_for_a_commit(signed: tuple[Repo, str, str], git: SafeGit,
                                             key: SigningKey) -> None:
    """A revision that looks like an option is refused."""
    repo, _, _ = signed
    with pytest.raises(GitError, match="bad revision"):
        verify_commit(git, repo, "--all", key.public)


def test_the_signature_can_be_made_before_the_commit_exists(key: SigningKey) -> None:
    """The payload needs only the tree, the parents and the id (the Git Data API order)."""
    tree, parent = "a" * 40, "b" * 40
    payload = build_signed_payload(tree, [parent], "m-1")
    assert payload == (b"selfmod-signature-v1\ntree " + tree.encode() + b"\nparent "
                       + parent.encode() + b"\nmodification m-1\n")
    value = sign_commit_fields(key, tree, [parent], "m-1")
    assert value.startswith("v1 " + key.fingerprint + " ")


def test_a_short_object_id_cannot_be_signed(key: SigningKey) -> None:
    """Only full object ids go into the signed payload."""
    with pytest.raises(GitError, match="not a full object id"):
        build_signed_payload("abc", [], "m-1")
