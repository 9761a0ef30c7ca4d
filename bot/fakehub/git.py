"""Git plumbing on the double's bare repositories, run without a shell and without hooks."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Nothing a repository or the host's config holds may run: no hooks, no system/global config.
_SAFE_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
                "-c", "protocol.file.allow=never")
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class GitCommandError(Exception):
    """A git command failed; the message carries its stderr."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return a minimal environment for git: no user or system configuration."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": "/nonexistent", "LC_ALL": "C",
           "GIT_TERMINAL_PROMPT": "0"}
    env.update(extra or {})
    return env


async def git(repo: Path, *args: str, input: bytes | None = None,
              env: Mapping[str, str] | None = None) -> bytes:
    """Run `git` in a bare repository and return its stdout."""
    process = await asyncio.create_subprocess_exec(
        "git", *_SAFE_CONFIG, "--git-dir", str(repo), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=git_env(env))
    out, err = await process.communicate(input)
    if process.returncode != 0:
        raise GitCommandError(f"git {args[0]}: {err.decode(errors='replace').strip()}")
    return out


async def init_bare(path: Path, default_branch: str) -> None:
    """Create an empty bare repository whose HEAD names the default branch."""
    path.mkdir(parents=True, exist_ok=True)
    await git(path, "init", "--bare", "--quiet", f"--initial-branch={default_branch}")


async def write_blob(repo: Path, content: bytes) -> str:
    """Store a blob and return its sha."""
    return (await git(repo, "hash-object", "-w", "--stdin", input=content)).decode().strip()


async def object_type(repo: Path, sha: str) -> str | None:
    """Return an object's type, or None when it does not exist."""
    try:
        return (await git(repo, "cat-file", "-t", sha)).decode().strip()
    except GitCommandError:
        return None


async def read_object(repo: Path, sha: str) -> bytes:
    """Return an object's raw content."""
    kind = await object_type(repo, sha)
    if kind is None:
        raise GitCommandError(f"no object {sha}")
    return await git(repo, "cat-file", kind, sha)


async def write_tree(repo: Path, entries: Sequence[Mapping[str, Any]],
                     base_tree: str | None) -> str:
    """Build a tree from Git Data API entries on top of an optional base tree."""
    with tempfile.TemporaryDirectory(prefix="fakehub-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if base_tree:
            await git(repo, "read-tree", base_tree, env=env)
        else:
            await git(repo, "read-tree", "--empty", env=env)
        lines = []
        for entry in entries:
            sha = entry.get("sha")
            if "content" in entry:
                sha = await write_blob(repo, str(entry["content"]).encode("utf-8"))
            if sha is None:
                # A null sha deletes the path (mode 0 removes it from the index).
                lines.append(f"0 {'0' * 40}\t{entry['path']}")
            else:
                lines.append(f"{entry['mode']} {sha}\t{entry['path']}")
        if lines:
            await git(repo, "update-index", "--index-info",
                      input=("\n".join(lines) + "\n").encode("utf-8"), env=env)
        return (await git(repo, "write-tree", env=env)).decode().strip()


async def commit_tree(repo: Path, tree: str, parents: Sequence[str], message: str,
                      author: Mapping[str, str], committer: Mapping[str, str] | None = None,
                      signature: str | None = None) -> str:
    """Create a commit object (optionally carrying a gpgsig header) and return its sha."""
    committer = committer or author
    if signature is None:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        env = {"GIT_AUTHOR_NAME": author["name"], "GIT_AUTHOR_EMAIL": author["email"],
               "GIT_COMMITTER_NAME": committer["name"], "GIT_COMMITTER_EMAIL": committer["email"]}
        if author.get("date"):
            env["GIT_AUTHOR_DATE"] = author["date"]
        return (await git(repo, *args, input=message.encode("utf-8"), env=env)).decode().strip()
    # A signed commit is written as a raw object so the signature lands in the header.
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents),
             f"author {author['name']} <{author['email']}> {author.get('raw_date', '0 +0000')}",
             f"committer {committer['name']} <{committer['email']}> "
             f"{committer.get('raw_date', author.get('raw_date', '0 +0000'))}",
             "gpgsig " + signature.strip().replace("\n", "\n ")]
    raw = "\n".join(lines) + "\n\n" + message
    return (await git(repo, "hash-object", "-t", "commit", "-w", "--stdin",
                      input=raw.encode("utf-8"))).decode().strip()


async def resolve(repo: Path, ref: str) -> str | None:
    """Return the sha a ref points at, or None."""
    try:
        return (await git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}")
                ).decode().strip() or None
    except GitCommandError:
        return None


async def list_refs(repo: Path) -> dict[str, str]:
    """Return every ref and its sha."""
    out = await git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    refs = {}
    for line in out.decode().splitlines():
        name, sha = line.split(" ", 1)
        refs[name] = sha
    return refs


async def update_ref(repo: Path, ref: str, sha: str, old: str | None = None) -> None:
    """Point a ref at a sha (compare-and-swap when `old` is given)."""
    await git(repo, "update-ref", ref, sha, *([old] if old else []))


async def delete_ref(repo: Path, ref: str) -> None:
    """Delete a ref."""
    await git(repo, "update-ref", "-d", ref)


async def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    """Tell whether one commit is an ancestor of another."""
    try:
        await git(repo, "merge-base", "--is-ancestor", ancestor, descendant)
    except GitCommandError:
        return False
    return True


async def merge_tree(repo: Path, base: str, head: str) -> str | None:
    """Return the tree of merging head into base, or None on conflicts (git >= 2.38)."""
    try:
        out = await git(repo, "merge-tree", "--write-tree", base, head)
    except GitCommandError:
        return None
    return out.decode().splitlines()[0].strip()


async def parse_commit(repo: Path, sha: str) -> dict[str, Any]:
    """Return a commit's tree, parents, author, committer and message."""
    raw = (await git(repo, "cat-file", "commit", sha)).decode("utf-8", errors="replace")
    header, _, message = raw.partition("\n\n")
    result: dict[str, Any] = {"parents": [], "message": message}
    for line in header.splitlines():
        key, _, value = line.partition(" ")
        if key == "tree":
            result["tree"] = value
        elif key == "parent":
            result["parents"].append(value)
        elif key in ("author", "committer"):
            name, _, rest = value.partition(" <")
            email, _, when = rest.partition("> ")
            result[key] = {"name": name, "email": email, "date": _iso(when)}
        elif key == "gpgsig":
            result["signed"] = True
    return result


def _iso(when: str) -> str:
    from datetime import UTC, datetime

    seconds = when.split(" ")[0]
    moment = datetime.fromtimestamp(int(seconds) if seconds.isdigit() else 0, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def list_tree(repo: Path, sha: str, *, recursive: bool) -> list[dict[str, Any]]:
    """Return a tree's entries in the Git Data API's shape."""
    args = ["ls-tree", "-l", "-z", *(["-r", "-t"] if recursive else []), sha]
    entries = []
    for record in (await git(repo, *args)).decode("utf-8", errors="replace").split("\0"):
        if not record:
            continue
        meta, path = record.split("\t", 1)
        mode, kind, object_sha, size = meta.split()
        entry: dict[str, Any] = {"path": path, "mode": mode, "type": kind, "sha": object_sha}
        if kind == "blob":
            entry["size"] = int(size)
        entries.append(entry)
    return entries


async def resolve_tree(repo: Path, sha: str) -> str | None:
    """Return the tree a tree or commit sha names, or None."""
    try:
        return (await git(repo, "rev-parse", "--verify", "--quiet", sha + "^{tree}")
                ).decode().strip() or None
    except GitCommandError:
        return None
