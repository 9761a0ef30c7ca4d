"""Git without a shell, where nothing the host or the repository configures can run a program."""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bot.errors import GitError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0
REDACTED = "***"

# Config keys with a fixed name that name a program, a program's behaviour or a hook source.
# Values set on the command line (command scope) are read last, so they win over the
# repository's `.git/config`, its includes and its worktree config.
_FIXED_OVERRIDES: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.sshCommand", "false"),
    ("core.gitProxy", ""),
    ("core.askPass", ""),
    ("core.pager", "cat"),
    ("core.editor", ":"),  # git never launches an editor named ":"
    ("sequence.editor", ":"),
    ("core.alternateRefsCommand", ""),
    ("credential.helper", ""),  # an empty value clears every helper read so far
    ("diff.external", ""),
    ("gpg.program", "gpg"),
    ("gpg.openpgp.program", "gpg"),
    ("gpg.x509.program", "gpgsm"),
    ("gpg.ssh.program", "ssh-keygen"),
    ("gpg.ssh.defaultKeyCommand", ""),
    ("log.showSignature", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("push.recurseSubmodules", "no"),
    ("gc.auto", "0"),  # no background gc or maintenance processes left behind
    ("maintenance.auto", "false"),
    ("http.saveCookies", "false"),
    ("safe.bareRepository", "explicit"),
    ("protocol.allow", "never"),
    ("protocol.https.allow", "always"),
    ("protocol.http.allow", "always"),
    ("advice.detachedHead", "false"),
    ("init.defaultBranch", "main"),
)

# Keys whose subsection the repository chooses (`filter.<driver>.smudge`): found by listing the
# repository's effective config before each command and overridden one by one.
_DRIVER_KEYS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"filter\..+\.(clean|smudge|process)"), ""),  # empty: the filter is skipped
    (re.compile(r"filter\..+\.required"), "false"),
    (re.compile(r"diff\..+\.(command|textconv)"), ""),
    (re.compile(r"merge\..+\.driver"), ""),  # an empty driver fails the merge, runs nothing
    (re.compile(r"remote\..+\.uploadpack"), "git-upload-pack"),
    (re.compile(r"remote\..+\.receivepack"), "git-receive-pack"),
    (re.compile(r"(credential|http)\..+\.helper"), ""),
    (re.compile(r"pager\..+"), "false"),
)

_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")


@dataclass(frozen=True)
class Repo:
    """A repository on disk: its git folder and its work tree (None when bare)."""

    git_dir: Path
    work_tree: Path | None


@dataclass(frozen=True)
class GitResult:
    """What a git command printed."""

    stdout: bytes
    stderr: bytes
    returncode: int

    @property
    def text(self) -> str:
        """Return stdout decoded and stripped."""
        return self.stdout.decode("utf-8", errors="replace").strip()


@dataclass
class SafeGit:
    """Runs git for untrusted repositories: argument lists, timeouts, a minimal environment."""

    home: Path
    timeout: float = DEFAULT_TIMEOUT
    allow_file_protocol: bool = False
    _owned: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, *, timeout: float = DEFAULT_TIMEOUT,
               allow_file_protocol: bool = False) -> SafeGit:
        """Make a runner with a fresh empty HOME and hooks folder; close() removes them."""
        home = Path(tempfile.mkdtemp(prefix="selfmod-git-home-"))
        runner = cls(home, timeout, allow_file_protocol, _owned=True)
        runner.hooks_dir.mkdir(mode=0o500)
        return runner

    @property
    def hooks_dir(self) -> Path:
        """Return the empty folder git is told holds the hooks."""
        return self.home / "no-hooks"

    def close(self) -> None:
        """Remove the runner's HOME when it made it."""
        if self._owned:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- opening repositories -------------------------------------------------------------

    def open(self, path: Path) -> Repo:
        """Return the repository at `path` (its top folder, or a bare repository)."""
        path = Path(path).absolute()
        if not path.is_dir():
            raise GitError(f"{path} is not a folder")
        dot_git = path / ".git"
        git_dir = dot_git if dot_git.exists() else path
        probe = Repo(git_dir, None)
        result = self.run(probe, "rev-parse", "--absolute-git-dir", "--is-bare-repository",
                          check=False)
        lines = result.text.splitlines()
        if result.returncode != 0 or len(lines) != 2:
            raise GitError(f"{path} is not a git repository (or not its top folder)")
        bare = lines[1] == "true" or not dot_git.exists()
        return Repo(Path(lines[0]), None if bare else path)

    # -- running --------------------------------------------------------------------------

    def run(self, repo: Repo | None, *args: str, input: bytes | None = None,
            env: Mapping[str, str] | None = None, secrets: Sequence[str] = (),
            config: Sequence[tuple[str, str]] = (), check: bool = True,
            timeout: float | None = None) -> GitResult:
        """Run one git command in `repo` (or none, for init) and return its output."""
        overrides = [*self._neutralisers(repo), *config]
        argv = self._argv(repo, args)
        process_env = self._env(overrides, env)
        limit = timeout or self.timeout
        log.debug("git %s", " ".join(_scrub(a, secrets) for a in args))
        try:
            # No terminal and no inherited stdin: git can never wait for a person.
            done = subprocess.run(argv, input=input, capture_output=True, env=process_env,
                                  stdin=subprocess.DEVNULL if input is None else None,
                                  timeout=limit, check=False, cwd=self.home)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out after {limit:.0f} s") from None
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror}") from None
        result = GitResult(done.stdout, done.stderr, done.returncode)
        if check and result.returncode != 0:
            raise GitError(_failure(args, result, secrets))
        return result

    async def arun(self, repo: Repo | None, *args: str, **kwargs: Any) -> GitResult:
        """Run one git command in a thread so the event loop keeps going."""
        return await asyncio.to_thread(functools.partial(self.run, repo, *args, **kwargs))

    def _argv(self, repo: Repo | None, args: Sequence[str]) -> list[str]:
        argv = ["git", "--no-pager"]
        if repo is not None:
            # Explicit folders: no discovery upwards, and core.worktree cannot move the tree.
            argv.append(f"--git-dir={repo.git_dir}")
            if repo.work_tree is not None:
                argv.append(f"--work-tree={repo.work_tree}")
        return [*argv, *args]

    def _env(self, overrides: Sequence[tuple[str, str]],
             extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
               "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "GIT_EDITOR": ":",
               "GIT_ASKPASS": "", "SSH_ASKPASS": "", "GIT_OPTIONAL_LOCKS": "0"}
        env.update(extra or {})
        # Command-scope config through the environment: keys and values need no quoting, and
        # a secret value is not visible in the process list as a `-c` argument would be.
        env["GIT_CONFIG_COUNT"] = str(len(overrides))
        for index, (key, value) in enumerate(overrides):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def _neutralisers(self, repo: Repo | None) -> list[tuple[str, str]]:
        """Return the command-scope config that disarms everything the repository configures."""
        overrides = list(_FIXED_OVERRIDES)
        if self.allow_file_protocol:
            overrides.append(("protocol.file.allow", "always"))
        if repo is not None:
            overrides.append(("safe.directory", str(repo.work_tree or repo.git_dir)))
            overrides.append(("safe.directory", str(repo.git_dir)))
            for name in self._config_names(repo):
                for pattern, value in _DRIVER_KEYS:
                    if pattern.fullmatch(_lower_outer(name)):
                        overrides.append((name, value))
        # Last, so nothing above can set it back.
        overrides.append(("core.hooksPath", str(self.hooks_dir)))
        return overrides

    def _config_names(self, repo: Repo) -> list[str]:
        """List the names of every config entry the repository sees (includes resolved)."""
        argv = [*self._argv(repo, ()), "config", "--list", "--name-only", "-z"]
        safe = [*_FIXED_OVERRIDES, ("safe.directory", str(repo.work_tree or repo.git_dir)),
                ("safe.directory", str(repo.git_dir)), ("core.hooksPath", str(self.hooks_dir))]
        try:
            done = subprocess.run(argv, capture_output=True, env=self._env(safe, None),
                                  timeout=self.timeout, check=False, cwd=self.home)
        except (subprocess.TimeoutExpired, OSError):
            raise GitError("cannot read the repository's config") from None
        if done.returncode != 0:
            # Not a repository yet (or unreadable config): the command itself will say so.
            return []
        return [name for name in done.stdout.decode("utf-8", "replace").split("\0") if name]


def _lower_outer(name: str) -> str:
    """Lower-case a config name's section and key; the middle (subsection) stays as written."""
    section, _, rest = name.partition(".")
    middle, _, key = rest.rpartition(".")
    outer = f"{section.lower()}.{middle}" if middle else section.lower()
    return f"{outer}.{key.lower()}"


def basic_auth_header(token: str) -> str:
    """Return the HTTP header that gives git an installation token (GitHub's x-access-token)."""
    encoded = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return f"Authorization: Basic {encoded}"


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Return each secret and the encodings it may take on the wire, longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.add(secret)
            forms.add(base64.b64encode(f"x-access-token:{secret}".encode()).decode())
    return sorted(forms, key=len, reverse=True)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret (and credentials in URLs) with a placeholder."""
    for form in secret_forms(secrets):
        text = text.replace(form, REDACTED)
    return _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)


def _failure(args: Sequence[str], result: GitResult, secrets: Sequence[str]) -> str:
    stderr = result.stderr.decode("utf-8", errors="replace").strip()
    lines = [line for line in stderr.splitlines() if line.strip()][-6:]
    detail = "; ".join(lines) or f"exit status {result.returncode}"
    if "could not read Username" in stderr or "Authentication failed" in stderr:
        detail = "the server asked for credentials (token missing, expired or without access)"
    return _scrub(f"git {args[0]} failed: {detail}", secrets)
