"""Validation of the API's request bodies (pure): clear 400 errors that name the field."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from bot.web.api.problems import ApiError, bad_field

GOALS = ("improve_performance", "fix_bugs", "add_features", "refactor")
SAFETY_LEVELS = ("conservative", "moderate", "aggressive")
MAX_PATH = 500  # the PRD's codebase_path column
MAX_REASON = 2000
MAX_SELECTED = 50


@dataclass(frozen=True)
class AnalyzeBody:
    """What POST /self-modify/analyze asks."""

    codebase_path: str
    goals: tuple[str, ...]
    safety_level: str


@dataclass(frozen=True)
class ApplyBody:
    """What POST /self-modify/apply asks."""

    analysis_id: uuid.UUID
    selected: tuple[uuid.UUID, ...]
    approval_token: str | None


@dataclass(frozen=True)
class RollbackBody:
    """What POST /self-modify/rollback asks."""

    modification_id: uuid.UUID
    reason: str


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Decode a body that must be one JSON object."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def parse_analyze(data: dict[str, Any]) -> AnalyzeBody:
    """Validate the analyze body."""
    path = _string(data, "codebase_path", MAX_PATH)
    goals = data.get("modification_goals", ["improve_performance", "fix_bugs"])
    if not isinstance(goals, list) or not goals:
        raise bad_field("modification_goals", "must be a non-empty list of goals")
    for index, goal in enumerate(goals):
        if goal not in GOALS:
            raise bad_field(f"modification_goals[{index}]",
                            f"unknown goal {goal!r}; use one of {', '.join(GOALS)}")
    level = data.get("safety_level", "conservative")
    if level not in SAFETY_LEVELS:
        raise bad_field("safety_level", f"unknown safety level {level!r}; use one of "
                        f"{', '.join(SAFETY_LEVELS)}")
    return AnalyzeBody(path, tuple(dict.fromkeys(goals)), str(level))


def parse_apply(data: dict[str, Any]) -> ApplyBody:
    """Validate the apply body (the token is checked later: missing is 401, not 400)."""
    analysis_id = parse_uuid(data.get("analysis_id"), "analysis_id")
    selected = data.get("selected_modifications")
    if not isinstance(selected, list) or not selected:
        raise bad_field("selected_modifications", "must be a non-empty list of suggestion ids")
    if len(selected) > MAX_SELECTED:
        raise bad_field("selected_modifications", f"at most {MAX_SELECTED} at once")
    ids = tuple(dict.fromkeys(parse_uuid(item, f"selected_modifications[{index}]")
                              for index, item in enumerate(selected)))
    token = data.get("approval_token")
    if token is not None and not isinstance(token, str):
        raise bad_field("approval_token", "must be a string (a JWT)")
    return ApplyBody(analysis_id, ids, token or None)


def parse_rollback(data: dict[str, Any]) -> RollbackBody:
    """Validate the rollback body."""
    modification_id = parse_uuid(data.get("modification_id"), "modification_id")
    return RollbackBody(modification_id, _string(data, "rollback_reason", MAX_REASON))


def parse_uuid(value: Any, field: str) -> uuid.UUID:
    """Read an id; a 400 naming the field when it is missing or not a UUID."""
    if value is None:
        raise bad_field(field, "is required")
    if not isinstance(value, str):
        raise bad_field(field, "must be a string (a UUID)")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise bad_field(field, f"{value[:80]!r} is not a UUID") from None


def _string(data: dict[str, Any], field: str, limit: int) -> str:
    value = data.get(field)
    if value is None:
        raise bad_field(field, "is required")
    if not isinstance(value, str) or not value.strip():
        raise bad_field(field, "must be a non-empty string")
    if len(value) > limit or "\0" in value:
        raise bad_field(field, f"must be at most {limit} characters, without NUL")
    return value.strip()
