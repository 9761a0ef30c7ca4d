"""Tests of the safe git runner: nothing a repository configures runs, nothing of the host leaks."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import GitError
from bot.vcs.commit import Author, create_branch, create_signed_commit, move_branch, write_tree
from bot.vcs.keys import SigningKey
from bot.vcs.message import CommitFacts
from bot.vcs.objects import resolve_commit
from bot.vcs.revert import compute_revert, rollback_local
from bot.vcs.safegit import SafeGit, basic_auth_header
from bot.vcs.signature import verify_commit
from bot.vcs.workspace import Workspaces

# Each program the repository names appends its name to the canary, and passes data through
# (so a filter that did run would still produce a plausible checkout).
_SCRIPT = '#!/bin/sh\necho "{name} $*" >> "{canary}"\ncat 2>/dev/null\nexit 0\n'
_HOOKS = ("post-checkout", "pre-commit", "post-commit", "commit-msg", "prepare-commit-msg",
          "reference-transaction", "post-index-change", "post-merge", "post-rewrite",
          "pre-auto-gc", "fsmonitor-watchman", "pre-push", "push-to-checkout")


def _program(folder: Path, name: str, canary: Path) -> str:
    path = folder / name
    path.write_text(_SCRIPT.format(name=name, canary=canary))
    path.chmod(0o755)
    return str(path)


def _arm(repo: Path, canary: Path, host_git: Callable[..., str]) -> Path:
    """Configure every program-running key, hook and attribute we know of; return the decoy."""
    evil = repo.parent / f"{repo.name}-evil"
    hooks = evil / "hooks"
    hooks.mkdir(parents=True)
    (repo / ".git" / "hooks").mkdir(exist_ok=True)
    for hook in _HOOKS:
        _program(repo / ".git" / "hooks", hook, canary)
        _program(hooks, hook, canary)
    decoy = evil / "decoy-worktree"
    decoy.mkdir()
    settings = {
        "core.hooksPath": str(hooks), "core.fsmonitor": _program(evil, "fsmonitor", canary),
        "core.sshCommand": _program(evil, "ssh", canary),
        "core.pager": _program(evil, "pager", canary), "pager.log": _program(evil, "plog", canary),
        "core.editor": _program(evil, "editor", canary),
        "sequence.editor": _program(evil, "seqeditor", canary),
        "core.askPass": _program(evil, "askpass", canary),
        "credential.helper": "!" + _program(evil, "credential", canary),
        "core.gitProxy": _program(evil, "gitproxy", canary),
        "core.alternateRefsCommand": _program(evil, "altrefs", canary),
        "diff.external": _program(evil, "extdiff", canary),
        "filter.evil.clean": _program(evil, "clean", canary),
        "filter.evil.smudge": _program(evil, "smudge", canary),
        "filter.evil.required": "true",
        "filter.Proc.process": _program(evil, "process", canary),
        "diff.evil.textconv": _program(evil, "textconv", canary),
        "diff.evil.command": _program(evil, "diffcmd", canary),
        "merge.evil.driver": _program(evil, "mergedriver", canary) + " %O %A %B",
        "gpg.program": _program(evil, "gpg", canary),
        "gpg.ssh.program": _program(evil, "sshkeygen", canary),
        "log.showSignature": "true", "core.worktree": str(decoy),
        "remote.origin.uploadpack": _program(evil, "uploadpack", canary),
        "include.path": str(evil / "included.cfg"),
    }
    (evil / "included.cfg").write_text(
        f'[filter "inc"]\n\tsmudge = {_program(evil, "incsmudge", canary)}\n'
        f'\tclean = {_program(evil, "incclean", canary)}\n')
    for name, value in settings.items():
        host_git(repo, "config", name, value)
    return decoy


@pytest.fixture
def malicious(make_repo: Callable[..., Path], host_git: Callable[..., str],
              tmp_path: Path) -> tuple[Path, Path, Path]:
    """Return (repository, canary, decoy work tree) of a repository armed against its user."""
    repo = make_repo("evil-repo", {
        ".gitattributes": "* filter=evil diff=evil merge=evil\n*.txt filter=inc\n"
                          "*.proc filter=Proc\n",
        "app.py": "".join(f"line {i}\n" for i in range(30)),
        "notes.txt": "notes\n", "data.proc": "data\n"})
    canary = tmp_path / "canary"
    decoy = _arm(repo, canary, host_git)
    return repo, canary, decoy


def test_the_armed_repository_runs_programs_under_plain_git(
        malicious: tuple[Path, Path, Path], host_git: Callable[..., str]) -> None:
    """Plain git in the armed repository does run its programs (the canary can fire)."""
    repo, canary, _ = malicious
    (repo / "app.py").write_text("changed\n")
    host_git(repo, f"--work-tree={repo}", "status", check=False)
    host_git(repo, f"--work-tree={repo}", "add", "app.py", check=False)
    assert canary.exists() and "fsmonitor" in canary.read_text()


def test_nothing_the_repository_configures_runs_through_the_vcs_operations(
        malicious: tuple[Path, Path, Path], git: SafeGit, key: SigningKey, author: Author,
        host_git: Callable[..., str], tmp_path: Path) -> None:
    """Commits, branches, checkouts, verification, reverts and rollbacks run nothing of the repo."""
    path, canary, decoy = malicious
    repo = git.open(path)
    base = resolve_commit(git, repo, "HEAD")
    facts = CommitFacts("m1", "Change app")
    text = (path / "app.py").read_text()
    tree = write_tree(git, repo, base, {"app.py": text.replace("line 1\n", "LINE 1\n").encode(),
                                        "notes.txt": b"new notes\n"})
    applied = create_signed_commit(git, repo, key, author, tree, [base], facts)
    create_branch(git, repo, "self-mod/m1", applied)
    move_branch(git, repo, "main", applied, base)  # checks files out through attributes
    assert verify_commit(git, repo, applied, key.public).ok
    later_tree = write_tree(git, repo, applied, {"app.py": (path / "app.py").read_bytes()
                                                 .replace(b"line 28\n", b"LINE 28\n")})
    later = create_signed_commit(git, repo, key, author, later_tree, [applied],
                                 CommitFacts("m2", "Later"))
    move_branch(git, repo, "main", later, applied)
    # Both sides touched app.py: git asks the merge driver, which is disarmed (text merge).
    plan = compute_revert(git, repo, applied, base, later)
    assert [c.path for c in plan.changes] == ["app.py", "notes.txt"]
    done = rollback_local(git, repo, key, author, branch="main", before=base, applied=applied,
                          facts=CommitFacts("m1", "Roll back"))
    assert done.kind == "revert"
    assert (path / "app.py").read_bytes() == text.encode().replace(b"line 28", b"LINE 28")
    for args in (("status",), ("diff", "HEAD~1"), ("log", "-p", "-2"), ("show", "HEAD"),
                 ("add", "-A"), ("checkout", "-f", "HEAD~1"), ("reset", "--hard", "main"),
                 ("gc", "--auto"), ("clean", "-ffdx")):
        # Porcelain may fail where it wanted a disarmed program ("cannot run"); it runs none.
        git.run(repo, *args, check=False)
    assert git.run(repo, "diff", "--no-ext-diff", "--no-textconv", "HEAD~1").stdout
    workspaces = Workspaces(tmp_path / "workspaces", git)
    checkout = workspaces.sync("octo/evil", path.as_uri(), "main", depth=None)
    assert (checkout.repo.work_tree / "notes.txt").exists()  # type: ignore[operator]
    assert not canary.exists(), canary.read_text()
    assert list(decoy.iterdir()) == []


def test_a_workspace_armed_after_cloning_runs_nothing_on_the_next_sync(
        make_repo: Callable[..., Path], git: SafeGit, host_git: Callable[..., str],
        commit_file: Callable[..., str], tmp_path: Path) -> None:
    """Hooks and config planted in a workspace's .git do not run when it is fetched and reset."""
    origin = make_repo("origin", {".gitattributes": "* filter=evil diff=evil\n",
                                  "app.py": "x = 1\n"})
    workspaces = Workspaces(tmp_path / "workspaces", git)
    first = workspaces.sync("octo/app", origin.as_uri(), "main")
    canary = tmp_path / "canary"
    work = first.repo.work_tree
    assert work is not None
    decoy = _arm(work, canary, host_git)
    (work / "stray.txt").write_text("left behind\n")
    newer = commit_file(origin, "app.py", "x = 2\n")
    second = workspaces.sync("octo/app", origin.as_uri(), "main")
    assert second.commit == newer
    assert (work / "app.py").read_text() == "x = 2\n"
    assert not (work / "stray.txt").exists()
    assert not canary.exists(), canary.read_text()
    assert list(decoy.iterdir()) == []


def test_git_variables_of_the_host_do_not_reach_git(
        make_repo: Callable[..., Path], git: SafeGit, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """GIT_DIR and GIT_CONFIG_* of the host process are not passed on."""
    repo = git.open(make_repo())
    other = make_repo("other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.fsmonitor'='/bin/false'")
    assert git.run(repo, "rev-parse", "--absolute-git-dir").text == str(repo.git_dir)
    assert git.run(repo, "config", "core.fsmonitor").text == "false"
    assert git.run(repo, "config", "core.hooksPath").text == str(git.hooks_dir)


def test_a_folder_that_is_not_a_repository_is_refused(git: SafeGit, tmp_path: Path) -> None:
    """Opening a plain folder names it as not a git repository."""
    with pytest.raises(GitError, match="is not a git repository"):
        git.open(tmp_path)


def test_a_missing_folder_is_refused(git: SafeGit, tmp_path: Path) -> None:
    """Opening a path that does not exist says it is not a folder."""
    with pytest.raises(GitError, match="is not a folder"):
        git.open(tmp_path / "missing")


def test_a_subfolder_of_a_repository_is_refused(make_repo: Callable[..., Path],
                                                git: SafeGit) -> None:
    """Only a repository's top folder opens; git does not search upwards."""
    path = make_repo(files={"pkg/mod.py": "x = 1\n"})
    with pytest.raises(GitError, match="not a git repository"):
        git.open(path / "pkg")


def test_a_bare_repository_opens_without_a_work_tree(make_repo: Callable[..., Path],
                                                     host_git: Callable[..., str],
                                                     git: SafeGit, tmp_path: Path) -> None:
    """A bare repository opens with no work tree."""
    source = make_repo()
    host_git(tmp_path, "clone", "-q", "--bare", str(source), "bare.git")
    repo = git.open(tmp_path / "bare.git")
    assert repo.work_tree is None
    assert resolve_commit(git, repo, "main")


def test_a_failed_command_names_the_command_without_the_secret(
        make_repo: Callable[..., Path], git: SafeGit,
        caplog: pytest.LogCaptureFixture) -> None:
    """A secret in a failing command's output is replaced in the error and in the logs."""
    repo = git.open(make_repo())
    token = "ghs_secretsecretsecret"
    caplog.set_level(logging.DEBUG, logger="bot.vcs")
    with pytest.raises(GitError) as failure:
        git.run(repo, "rev-parse", "--verify", f"{token}-{basic_auth_header(token)[21:]}",
                secrets=[token])
    assert "git rev-parse failed" in str(failure.value)
    assert token not in str(failure.value) and basic_auth_header(token)[21:] not in str(
        failure.value)
    assert token not in caplog.text and "***" in caplog.text


def test_a_command_over_its_time_limit_is_stopped(make_repo: Callable[..., Path],
                                                  git: SafeGit) -> None:
    """A git command that outlives its timeout is killed with a clear error."""
    repo = git.open(make_repo())
    with socket.socket() as silent:
        # A server that accepts connections (the kernel does) and never answers.
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/o/r.git"
        with pytest.raises(GitError, match="timed out"):
            git.run(repo, "fetch", url, "main", timeout=1.0)


async def test_the_async_runner_returns_the_same_output(make_repo: Callable[..., Path],
                                                        git: SafeGit) -> None:
    """The async wrapper runs git in a thread and returns its output."""
    repo = git.open(make_repo())
    assert (await git.arun(repo, "rev-parse", "HEAD")).text == resolve_commit(git, repo, "HEAD")
