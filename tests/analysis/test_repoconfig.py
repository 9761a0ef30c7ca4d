"""Tests of the per-repository configuration file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.analysis.repoconfig import RepoConfig, load_repo_config, parse_repo_config
from bot.errors import RepoConfigError

WriteTree = Callable[[dict[str, str | bytes]], Path]


def test_missing_file_gives_defaults(write_tree: WriteTree) -> None:
    """A repository without a config gets the documented defaults."""
    config = load_repo_config(write_tree({"a.py": ""}))
    assert config == RepoConfig()
    assert config.max_open_pull_requests == 3 and config.safety_level == "conservative"


def test_every_key_is_read(write_tree: WriteTree) -> None:
    """All documented keys are read from .github/selfmod.yml."""
    root = write_tree({".github/selfmod.yml": """
goals: [improve_performance, refactor]
safety_level: moderate
include: ["src/**"]
exclude: ["src/generated/"]
test_command: pytest -x
benchmark_command: python bench.py
max_open_pull_requests: 5
schedule: "0 3 * * 1"
labels: [perf, bot]
"""})
    config = load_repo_config(root)
    assert config.goals == ("improve_performance", "refactor")
    assert (config.safety_level, config.include, config.exclude) == (
        "moderate", ("src/**",), ("src/generated/",))
    assert (config.test_command, config.benchmark_command) == ("pytest -x", "python bench.py")
    assert (config.max_open_pull_requests, config.schedule) == (5, "0 3 * * 1")
    assert config.labels == ("perf", "bot") and config.source == ".github/selfmod.yml"


def test_dot_selfmod_yml_is_read(write_tree: WriteTree) -> None:
    """.selfmod.yml at the root is the fallback location."""
    config = load_repo_config(write_tree({".selfmod.yml": "safety_level: aggressive\n"}))
    assert config.safety_level == "aggressive" and config.source == ".selfmod.yml"


def test_github_location_takes_precedence_with_warning(write_tree: WriteTree) -> None:
    """With both files present, .github/selfmod.yml wins and the other is warned about."""
    root = write_tree({".github/selfmod.yml": "schedule: daily\n",
                       ".selfmod.yml": "schedule: weekly\n"})
    config = load_repo_config(root)
    assert config.schedule == "daily" and "ignored" in config.warnings[0]


@pytest.mark.parametrize(("text", "message"), [
    ("goals: [go_fast]\n", "line 1: goals: 'go_fast' is not one of"),
    ("labels: [a]\nsafety_level: reckless\n", "line 2: safety_level: must be one of"),
    ("max_open_pull_requests: -1\n", "line 1: max_open_pull_requests: must be a whole number"),
    ("max_open_pull_requests: yes\n", "max_open_pull_requests: must be a whole number"),
    ("\n\nschedule: hourly\n", "line 3: schedule: must be one of"),
    ("test_command: ''\n", "test_command: must be a non-empty command"),
    ("include: 3\n", "include: must be a list of non-empty strings"),
    ("labels: [" + "x" * 51 + "]\n", "longer than GitHub's 50 characters"),
    ("goals: []\n", "goals: must name at least one goal"),
    ("schedule: daily\nschedule: weekly\n", "line 2: schedule: set twice"),
])
def test_invalid_values_name_key_and_line(text: str, message: str) -> None:
    """Each invalid value raises RepoConfigError naming the key and its line."""
    with pytest.raises(RepoConfigError, match=message.replace("[", r"\[")):
        parse_repo_config(text)


def test_yaml_syntax_error_names_the_line() -> None:
    """Broken YAML is reported with its line."""
    with pytest.raises(RepoConfigError, match="line 2: not valid YAML"):
        parse_repo_config("goals: [a\nsafety_level: x: y\n")


def test_top_level_must_be_a_mapping() -> None:
    """A list at the top level is rejected."""
    with pytest.raises(RepoConfigError, match="must be a mapping"):
        parse_repo_config("- a\n- b\n")


def test_unknown_keys_are_warned(caplog: pytest.LogCaptureFixture) -> None:
    """An unknown key is ignored with a warning naming it and its line."""
    config = parse_repo_config("safety_level: moderate\nturbo: true\n")
    assert config.safety_level == "moderate"
    assert config.warnings == (".github/selfmod.yml line 2: unknown key 'turbo' is ignored",)
    assert "turbo" in caplog.text


def test_empty_file_gives_defaults() -> None:
    """An empty file means the defaults."""
    assert parse_repo_config("").goals == RepoConfig().goals


def test_symlinked_config_is_refused(write_tree: WriteTree, tmp_path: Path) -> None:
    """A config that is a symbolic link is refused: it could read the host's files."""
    (tmp_path / "host.yml").write_text("safety_level: aggressive\n")
    root = write_tree({"a.py": ""})
    os.symlink(tmp_path / "host.yml", root / ".selfmod.yml")
    with pytest.raises(RepoConfigError, match="symbolic link"):
        load_repo_config(root)


def test_as_dict_is_plain_json() -> None:
    """as_dict gives lists and scalars only."""
    assert RepoConfig().as_dict()["labels"] == ["selfmod"]
