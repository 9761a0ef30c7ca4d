"""The `selfmod` command as a user runs it: help, clear errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SUBCOMMANDS = ("serve", "worker", "run", "analyze", "sandbox", "verify", "token", "db", "demo")


def _selfmod(*args: str, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "SELFMOD_", "DATABASE_URL", "OPENAI_"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**base, **(env or {})},
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_help_lists_every_subcommand() -> None:
    """`selfmod --help` names every subcommand."""
    result = _selfmod("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str) -> None:
    """Each subcommand answers --help."""
    assert _selfmod(name, "--help").returncode == 0


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_malformed_database_url_is_one_line(tmp_path: Path) -> None:
    """A malformed DATABASE_URL stops the command with one line and exit code 2."""
    result = _selfmod("db", "upgrade", env={"DATABASE_URL": "mysql://db/x"}, cwd=tmp_path)
    _assert_one_clear_line(result, "DATABASE_URL")


def test_serve_without_secret_is_one_line(tmp_path: Path) -> None:
    """`serve` without the webhook secret names it, exit code 2."""
    env = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY":
           "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----"}
    _assert_one_clear_line(_selfmod("serve", env=env, cwd=tmp_path), "GITHUB_WEBHOOK_SECRET")


def test_unreadable_key_file_is_one_line(tmp_path: Path) -> None:
    """An unreadable private key file is named, exit code 2."""
    env = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "missing.pem"),
           "GITHUB_WEBHOOK_SECRET": "s"}
    _assert_one_clear_line(_selfmod("serve", env=env, cwd=tmp_path), "GITHUB_PRIVATE_KEY_PATH")


def test_unknown_subcommand_is_a_usage_error() -> None:
    """An unknown subcommand is refused with exit code 2."""
    result = _selfmod("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_db_upgrade_then_worker_once(tmp_path: Path) -> None:
    """`db upgrade` makes a database a worker accepts; before it, the worker refuses."""
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    refused = _selfmod("worker", "--once", env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "selfmod db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _selfmod("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert _selfmod("worker", "--once", env=env, cwd=tmp_path).returncode == 0

