"""fly.toml: the deployment the README describes."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.cli import build_parser

FLY = Path(__file__).resolve().parents[2] / "fly.toml"


def _config() -> dict:
    return tomllib.loads(FLY.read_text())


def test_processes_are_selfmod_commands() -> None:
    """Both process groups run `selfmod` subcommands the CLI accepts."""
    processes = _config()["processes"]
    assert set(processes) == {"web", "worker"}
    for command in processes.values():
        program, *args = command.split()
        assert program == "selfmod"
        build_parser().parse_args(args)


def test_release_command_upgrades_the_schema() -> None:
    """Each deploy upgrades the database before new processes start."""
    release = _config()["deploy"]["release_command"].split()
    assert release[0] == "selfmod" and build_parser().parse_args(release[1:]).db_command


def test_web_service_is_health_checked_on_its_port() -> None:
    """The web port is the one `selfmod serve` listens on, and it is checked on /healthz."""
    config = _config()
    service = config["http_service"]
    serve = build_parser().parse_args(config["processes"]["web"].split()[1:])
    assert service["processes"] == ["web"] and service["internal_port"] == serve.port
    assert serve.host == "0.0.0.0"
    assert [c["path"] for c in service["checks"]] == ["/healthz"]
    assert service["concurrency"]["hard_limit"] >= service["concurrency"]["soft_limit"] > 0


def test_grace_period_fits_the_kill_timeout() -> None:
    """Fly waits longer than a worker's grace period before it kills the machine."""
    config = _config()
    grace = float(config["env"]["SELFMOD_SHUTDOWN_GRACE_SECONDS"])
    assert config["kill_signal"] == "SIGTERM" and config["kill_timeout"] > grace
