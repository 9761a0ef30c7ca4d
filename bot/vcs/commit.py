"""Local commits of the app: trees from file changes, SSH-signed commits, branches moved safely."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot.errors import GitError
from bot.vcs.keys import SigningKey
from bot.vcs.message import CommitFacts, build_commit_message
from bot.vcs.objects import resolve_commit
from bot.vcs.safegit import Repo, SafeGit
from bot.vcs.signature import sign_message

ZERO_ID = "0" * 40


@dataclass(frozen=True)
class Author:
    """Who the app's local commits are by."""

    name: str
    email: str


def write_tree(git: SafeGit, repo: Repo, base_commit: str,
               changes: Mapping[str, bytes | None]) -> str:
    """Return the tree of `base_commit` with files replaced (bytes) or deleted (None)."""
    for path in changes:
        _check_path(path)
    modes = _modes(git, repo, base_commit, list(changes))
    with tempfile.TemporaryDirectory(prefix="selfmod-index-") as scratch:
        # A private index: the user's index and work tree are never touched.
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        git.run(repo, "read-tree", base_commit, env=env)
        lines = []
        for path, content in changes.items():
            if content is None:
                lines.append(f"0 {ZERO_ID}\t{path}")
                continue
            # --no-filters: the repository's clean filters never see (or run on) our content.
            blob = git.run(repo, "hash-object", "-w", "--no-filters", "--stdin",
                           input=content).text
            lines.append(f"{modes.get(path, '100644')} {blob}\t{path}")
        if lines:
            git.run(repo, "update-index", "--index-info", env=env,
                    input=("\n".join(lines) + "\n").encode())
        return git.run(repo, "write-tree", env=env).text


def _modes(git: SafeGit, repo: Repo, commit: str, paths: Sequence[str]) -> dict[str, str]:
    """Return the modes the given paths have in a commit (executables stay executable)."""
    if not paths:
        return {}
    out = git.run(repo, "ls-tree", "-z", "--full-tree", commit, "--", *paths).stdout
    modes = {}
    for record in out.decode("utf-8", errors="replace").split("\0"):
        if record:
            meta, path = record.split("\t", 1)
            mode = meta.split()[0]
            if mode in ("100644", "100755"):
                modes[path] = mode
    return modes


def _check_path(path: str) -> None:
    parts = PurePosixPath(path).parts
    if (not parts or path.startswith("/") or ".." in parts
            or any(p.lower() == ".git" for p in parts) or "\n" in path or "\t" in path):
        raise GitError(f"refusing to write the path {path!r}")


def create_signed_commit(git: SafeGit, repo: Repo, key: SigningKey, author: Author, tree: str,
                         parents: Sequence[str], facts: CommitFacts) -> str:
    """Make a commit signed twice (SSH signature, Selfmod-Signature trailer); return its id."""
    return commit_message_signed(git, repo, key, author, tree, parents,
                                 build_commit_message(facts))


def commit_message_signed(git: SafeGit, repo: Repo, key: SigningKey, author: Author, tree: str,
                          parents: Sequence[str], message: str) -> str:
    """Commit a tree with an unsigned self-modification message, signing it both ways."""
    message = sign_message(key, tree, parents, message)
    args = ["commit-tree", "-S", tree]
    for parent in parents:
        args += ["-p", parent]
    env = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
           "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email}
    config = [("gpg.format", "ssh"), ("user.signingKey", str(key.path.absolute())),
              ("commit.gpgSign", "true")]
    return git.run(repo, *args, input=message.encode(), env=env, config=config).text


def create_branch(git: SafeGit, repo: Repo, branch: str, commit: str) -> None:
    """Create a branch at a commit; refuse when it already exists."""
    ref = _branch_ref(git, repo, branch)
    found = git.run(repo, "update-ref", ref, commit, ZERO_ID, check=False)
    if found.returncode != 0:
        raise GitError(f"the branch {branch} already exists")


def checked_out_branch(git: SafeGit, repo: Repo) -> str | None:
    """Return the branch HEAD names, or None when HEAD is detached."""
    found = git.run(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return found.text if found.returncode == 0 and found.text else None


def move_branch(git: SafeGit, repo: Repo, branch: str, new: str, expected: str) -> None:
    """Move a branch from `expected` to `new`; update the work tree when it is checked out."""
    ref = _branch_ref(git, repo, branch)
    current = resolve_commit(git, repo, ref)
    if current != expected:
        raise GitError(f"{branch} moved (now at {current[:12]}, expected {expected[:12]})")
    if repo.work_tree is not None and checked_out_branch(git, repo) == branch:
        # A two-tree merge keeps uncommitted work and refuses when it would be lost.
        git.run(repo, "read-tree", "-m", "-u", expected, new)
    git.run(repo, "update-ref", "-m", "selfmod", ref, new, expected)


def _branch_ref(git: SafeGit, repo: Repo, branch: str) -> str:
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    if git.run(repo, "check-ref-format", ref, check=False).returncode != 0:
        raise GitError(f"bad branch name {branch!r}")
    return ref
