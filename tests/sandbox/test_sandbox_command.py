"""`selfmod sandbox exec` by hand: exit code, write-back, the copy, bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.cli import main

pytestmark = pytest.mark.docker


def _exec(sandbox_image: str, *args: str) -> int:
    return main(["sandbox", "exec", "--image", sandbox_image, *args])


def test_exit_code_is_the_commands_and_dir_gets_its_writes(
        sandbox_image: str, workdir: Path, docker_client: object) -> None:
    """The command's exit code is returned and what it wrote is in DIR afterwards."""
    (workdir / "gone.txt").write_text("x")
    code = _exec(sandbox_image, "--workdir", str(workdir), "--",
                 "sh", "-c", "echo new > made.txt; rm gone.txt; exit 7")
    assert code == 7
    assert (workdir / "made.txt").read_text() == "new\n"
    assert not (workdir / "gone.txt").exists()


def test_copy_leaves_dir_untouched(sandbox_image: str, workdir: Path, docker_client: object,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """With --copy the command works on a fresh copy and DIR stays as it was."""
    (workdir / "a.txt").write_text("a")
    assert _exec(sandbox_image, "--copy", "--json", "--workdir", str(workdir), "--",
                 "sh", "-c", "echo b > a.txt") == 0
    result = json.loads(capsys.readouterr().out)
    assert (workdir / "a.txt").read_text() == "a"
    assert Path(result["written_back"]).joinpath("a.txt").read_text() == "b\n"


def test_git_is_read_only_and_unchanged(sandbox_image: str, workdir: Path,
                                        docker_client: object) -> None:
    """A real repository's .git cannot be written inside and is untouched on the host."""
    subprocess.run(["git", "init", "-q", str(workdir)], check=True)
    before = (workdir / ".git" / "config").read_bytes()
    code = _exec(sandbox_image, "--workdir", str(workdir), "--", "sh", "-c",
                 "echo '[core] fsmonitor = evil' >> .git/config")
    assert code != 0
    assert (workdir / ".git" / "config").read_bytes() == before


def test_a_missing_command_is_a_usage_error(workdir: Path) -> None:
    """Without a command after --, exec says so and exits 2."""
    assert main(["sandbox", "exec", "--workdir", str(workdir), "--"]) == 2


def test_a_missing_workdir_is_a_usage_error(tmp_path: Path) -> None:
    """A --workdir that is not a directory exits 2."""
    assert main(["sandbox", "exec", "--workdir", str(tmp_path / "nope"), "--", "true"]) == 2


def test_a_bad_memory_size_is_a_usage_error(workdir: Path) -> None:
    """--memory lots exits 2."""
    assert main(["sandbox", "exec", "--memory", "lots", "--workdir", str(workdir), "--",
                 "true"]) == 2


def test_build_env_with_nothing_to_install_names_the_base_image(
        sandbox_image: str, workdir: Path, docker_client: object,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A repository without dependency files runs on the base image, and says so."""
    (workdir / "setup.py").write_text("raise SystemExit('never run on the host')\n")
    code = main(["sandbox", "build-env", "--repo", str(workdir), "--image", sandbox_image])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.strip() == f"{sandbox_image} (nothing to install)"
    assert "configure a setup command" in captured.err


def test_build_env_failure_is_one_clear_message(sandbox_image: str, workdir: Path,
                                                docker_client: object,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A failing install exits 1 with pip's error."""
    (workdir / "requirements.txt").write_text("--no-index\nselfmod-missing-dist==1\n")
    code = main(["sandbox", "build-env", "--repo", str(workdir), "--image", sandbox_image])
    assert code == 1
    assert "No matching distribution found for selfmod-missing-dist" in capsys.readouterr().err
