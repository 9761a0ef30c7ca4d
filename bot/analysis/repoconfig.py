"""Per-repository configuration: `.github/selfmod.yml` (or `.selfmod.yml`), validated."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from bot.errors import RepoConfigError

CONFIG_PATHS = (".github/selfmod.yml", ".selfmod.yml")
GOALS = ("improve_performance", "fix_bugs", "add_features", "refactor")
SAFETY_LEVELS = ("conservative", "moderate", "aggressive")
SCHEDULES = ("on_push", "daily", "weekly", "manual")
_MAX_CONFIG_BYTES = 64_000
_CRON_FIELD = re.compile(r"^[0-9*/,\-A-Za-z]+$")
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepoConfig:
    """What a repository asks of selfmod; every field has a documented default."""

    goals: tuple[str, ...] = ("improve_performance", "fix_bugs")
    safety_level: str = "conservative"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    test_command: str = "python -m pytest -q"
    benchmark_command: str | None = None
    max_open_pull_requests: int = 3
    schedule: str = "on_push"
    labels: tuple[str, ...] = ("selfmod",)
    allow_unverified_refactors: bool = False  # a repository without tests may get refactors
    source: str | None = None  # the file it was read from, None for the defaults
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON values (without source and warnings)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self) if f.name not in ("source", "warnings")}


def load_repo_config(root: Path) -> RepoConfig:
    """Read the repository's selfmod config; the defaults when it has none."""
    for rel in CONFIG_PATHS:
        path = root / rel
        if not path.is_file() and not path.is_symlink():
            continue
        if path.is_symlink():
            # The file is the repository's; following a link could read the host's files.
            raise RepoConfigError(f"{rel}: must be a regular file, not a symbolic link")
        if not path.resolve().is_relative_to(root.resolve()):
            raise RepoConfigError(f"{rel}: lies outside the repository")
        data = path.read_bytes()
        if len(data) > _MAX_CONFIG_BYTES:
            raise RepoConfigError(f"{rel}: larger than {_MAX_CONFIG_BYTES} bytes")
        config = parse_repo_config(data.decode("utf-8", "replace"), rel)
        others = [o for o in CONFIG_PATHS if o != rel and os.path.lexists(root / o)]
        if others:
            config = _with_warning(config, f"{others[0]} is ignored: {rel} takes precedence")
        return config
    return RepoConfig()


def parse_repo_config(text: str, source: str = CONFIG_PATHS[0]) -> RepoConfig:
    """Validate config text; errors name the key and its line, unknown keys become warnings."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return RepoConfig(source=source)
        if not isinstance(node, yaml.MappingNode):
            raise RepoConfigError(f"{source} line {node.start_mark.line + 1}: "
                                  "the file must be a mapping of settings")
        values: dict[str, Any] = {}
        warnings: list[str] = []
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in values:
                raise RepoConfigError(f"{source} line {line}: {key}: set twice")
            check = _CHECKS.get(key) if isinstance(key, str) else None
            if check is None:
                warnings.append(f"{source} line {line}: unknown key {key!r} is ignored")
                continue
            value = loader.construct_object(value_node, deep=True)
            values[key] = check(value, _Where(source, key, value_node.start_mark.line + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RepoConfigError(f"{source}{line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise RepoConfigError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    for warning in warnings:
        _LOG.warning("%s", warning)
    return RepoConfig(**values, source=source, warnings=tuple(warnings))


def _with_warning(config: RepoConfig, warning: str) -> RepoConfig:
    _LOG.warning("%s", warning)
    fields_ = {f.name: getattr(config, f.name) for f in fields(config)}
    fields_["warnings"] = (*config.warnings, warning)
    return RepoConfig(**fields_)


@dataclass(frozen=True)
class _Where:
    source: str
    key: str
    line: int

    def error(self, message: str) -> RepoConfigError:
        return RepoConfigError(f"{self.source} line {self.line}: {self.key}: {message}")


def _string_list(value: Any, where: _Where, choices: tuple[str, ...] | None = None,
                 ) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise where.error("must be a list of non-empty strings")
    if choices is not None:
        for item in items:
            if item not in choices:
                raise where.error(f"{item!r} is not one of {', '.join(choices)}")
    return tuple(items)


def _goals(value: Any, where: _Where) -> tuple[str, ...]:
    goals = _string_list(value, where, GOALS)
    if not goals:
        raise where.error("must name at least one goal")
    return goals


def _safety_level(value: Any, where: _Where) -> str:
    if value not in SAFETY_LEVELS:
        raise where.error(f"must be one of {', '.join(SAFETY_LEVELS)}")
    return str(value)


def _globs(value: Any, where: _Where) -> tuple[str, ...]:
    return _string_list(value, where)


def _command(value: Any, where: _Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error("must be a non-empty command string")
    return value.strip()


def _optional_command(value: Any, where: _Where) -> str | None:
    return None if value is None else _command(value, where)


def _max_open(value: Any, where: _Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise where.error("must be a whole number from 0 to 100")
    return value


def _schedule(value: Any, where: _Where) -> str:
    if value in SCHEDULES:
        return str(value)
    if isinstance(value, str):
        parts = value.split()
        if len(parts) == 5 and all(_CRON_FIELD.match(p) for p in parts):
            return " ".join(parts)
    raise where.error(f"must be one of {', '.join(SCHEDULES)} or a 5-field cron expression")


def _labels(value: Any, where: _Where) -> tuple[str, ...]:
    labels = _string_list(value, where)
    for label in labels:
        if len(label) > 50:
            raise where.error(f"label {label[:20]!r}... is longer than GitHub's 50 characters")
    return labels


def _flag(value: Any, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.error("must be true or false")
    return value


_CHECKS: dict[str, Callable[[Any, _Where], Any]] = {
    "goals": _goals,
    "safety_level": _safety_level,
    "include": _globs,
    "exclude": _globs,
    "test_command": _command,
    "benchmark_command": _optional_command,
    "max_open_pull_requests": _max_open,
    "schedule": _schedule,
    "labels": _labels,
    "allow_unverified_refactors": _flag,
}
