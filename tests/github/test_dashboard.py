"""Tests of the dashboard's body and the reading of its checkboxes."""

from __future__ import annotations

import uuid

from bot.github.commands import Command, CommandError, CommandName, parse_command
from bot.github.dashboard import DashboardFacts, Line, build_dashboard_body, parse_ticked

PENDING = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_body_lists_every_section_with_the_marker() -> None:
    """The body carries the marker, pending boxes, rollback reasons and suppressed rules."""
    body = build_dashboard_body(DashboardFacts(
        open=[Line("a", "Speed up f", 7, "http://x/pull/7")],
        pending=[Line(str(PENDING), "Speed up g")],
        rolled_back=[Line("b", "Rewrite h", 3, None, "broke the API")],
        suppressed=[("append-comprehension", "", "5 of 5 proposals rejected")]))
    assert body.startswith("<!-- selfmod:dashboard -->")
    assert "- [#7](http://x/pull/7) Speed up f" in body
    assert f"- [ ] <!-- selfmod:pending:{PENDING} --> Speed up g" in body
    assert "- #3 Rewrite h: broke the API" in body
    assert "- `append-comprehension`: 5 of 5 proposals rejected" in body
    assert parse_ticked(body) == []


def test_ticked_boxes_are_read_and_others_ignored() -> None:
    """Only ticked pending boxes count; a tick on any other line does not."""
    body = (f"- [x] <!-- selfmod:pending:{PENDING} --> Speed up g\n"
            "- [x] something a person added\n"
            f"- [ ] <!-- selfmod:pending:{uuid.uuid4()} --> other\n")
    assert parse_ticked(body) == [PENDING]
    assert parse_ticked(None) == []


def test_rate_and_ignore_commands_parse() -> None:
    """Rate takes 1..5 and a comment; ignore and unignore take one rule id."""
    assert parse_command("/selfmod rate 2 hard to read") == Command(CommandName.RATE,
                                                                    "2 hard to read")
    assert parse_command("/selfmod ignore append-comprehension") == Command(
        CommandName.IGNORE, "append-comprehension")
    assert isinstance(parse_command("/selfmod rate 9"), CommandError)
    assert isinstance(parse_command("/selfmod rate great"), CommandError)
    assert isinstance(parse_command("/selfmod unignore"), CommandError)
