"""One reusable git workspace per repository, fetched with a token kept out of files, cleaned."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.errors import GitError
from bot.vcs.objects import resolve_commit
from bot.vcs.safegit import Repo, SafeGit, basic_auth_header

_FULL_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
FETCHED_REF = "refs/selfmod/fetched"


@dataclass(frozen=True)
class Checkout:
    """A workspace checked out at a commit."""

    repo: Repo
    commit: str


class Workspaces:
    """Workspaces under one root folder (settings.data_dir / "workspaces"), one per repository."""

    def __init__(self, root: Path, git: SafeGit) -> None:
        self.root = root
        self.git = git

    def path_for(self, full_name: str) -> Path:
        """Return the folder of a repository's workspace (`owner/name`)."""
        if not _FULL_NAME.fullmatch(full_name) or ".." in full_name:
            raise GitError(f"bad repository name {full_name!r}")
        owner, name = full_name.lower().split("/")
        return self.root / f"{owner}__{name}"

    @contextlib.contextmanager
    def lock(self, full_name: str) -> Iterator[Path]:
        """Hold a repository's workspace for this process alone (workers share the folder)."""
        path = self.path_for(full_name)
        self.root.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield path
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sync(self, full_name: str, clone_url: str, ref: str, *, token: str | None = None,
             depth: int | None = 1) -> Checkout:
        """Fetch `ref` (branch, tag or commit id) and check it out clean; reuse the folder."""
        url = self._check_url(clone_url)
        with self.lock(full_name) as path:
            repo = self._ensure_repo(path)
            self._fetch(repo, url, ref, token, depth)
            commit = resolve_commit(self.git, repo, FETCHED_REF)
            self._reset(repo, commit)
            return Checkout(repo, commit)

    async def async_sync(self, full_name: str, clone_url: str, ref: str, *,
                         token: str | None = None, depth: int | None = 1) -> Checkout:
        """Sync in a thread so the worker's event loop keeps going."""
        call = functools.partial(self.sync, full_name, clone_url, ref, token=token, depth=depth)
        return await asyncio.to_thread(call)

    def fetch(self, full_name: str, clone_url: str, ref: str, *, token: str | None = None,
              depth: int | None = None) -> Checkout:
        """Fetch another ref (full history by default) without touching the work tree."""
        url = self._check_url(clone_url)
        with self.lock(full_name) as path:
            repo = self._ensure_repo(path)
            self._fetch(repo, url, ref, token, depth)
            return Checkout(repo, resolve_commit(self.git, repo, FETCHED_REF))

    def remove(self, full_name: str) -> None:
        """Delete a repository's workspace."""
        with self.lock(full_name) as path:
            shutil.rmtree(path, ignore_errors=True)

    def _check_url(self, url: str) -> str:
        parts = urlsplit(url)
        allowed = ("https", "http", "file") if self.git.allow_file_protocol else ("https", "http")
        if parts.scheme not in allowed:
            raise GitError(f"refusing to fetch from a {parts.scheme or 'schemeless'} URL")
        if parts.username or parts.password:
            # Credentials in a URL end up in .git/config and in messages: take a token instead.
            raise GitError("the clone URL carries credentials; pass the token separately")
        return url

    def _ensure_repo(self, path: Path) -> Repo:
        if (path / ".git").is_dir():
            # We hold the lock: a lock file left here is from a process that died mid-command.
            (path / ".git" / "index.lock").unlink(missing_ok=True)
            return self.git.open(path)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        # No templates: no sample hooks, nothing but what git needs.
        self.git.run(None, "init", "--quiet", "--template=", str(path))
        return self.git.open(path)

    def _fetch(self, repo: Repo, url: str, ref: str, token: str | None,
               depth: int | None) -> None:
        if ref.startswith("-") or not ref:
            raise GitError(f"bad ref {ref!r}")
        source = ref if _SHA.fullmatch(ref) or ref.startswith("refs/") else f"refs/heads/{ref}"
        args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head"]
        if depth is not None:
            args.append(f"--depth={depth}")
        elif (repo.git_dir / "shallow").exists():
            args.append("--unshallow")
        config = []
        secrets = []
        if token:
            # Command scope only: never in .git/config, never in the argument list.
            config.append(("http.extraHeader", basic_auth_header(token)))
            secrets.append(token)
        self.git.run(repo, *args, "--end-of-options", url, f"+{source}:{FETCHED_REF}",
                     config=config, secrets=secrets)

    def _reset(self, repo: Repo, commit: str) -> None:
        self.git.run(repo, "checkout", "--quiet", "--force", "--no-recurse-submodules",
                     "--detach", commit)
        self.git.run(repo, "reset", "--quiet", "--hard", "--no-recurse-submodules", commit)
        self.git.run(repo, "clean", "-ffdxq")
