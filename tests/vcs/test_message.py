"""Tests of the commit message builders and parser."""

from __future__ import annotations

import pytest

from bot.errors import GitError
from bot.vcs.message import (
    CommitFacts,
    append_trailer,
    build_branch_name,
    build_commit_message,
    parse_commit_message,
)

FACTS = CommitFacts("a1b2c3", "Speed up `parse_rows` by 42%", "The loop\nbuilt a list.\n",
                    "sess-9", 0.8249, "-42% time (parse_rows)")


def test_the_message_starts_with_the_id_and_title_then_reasoning_and_trailers() -> None:
    """The full message has its fixed layout."""
    assert build_commit_message(FACTS, "v1 SHA256:x c2ln") == (
        "Self-modification: a1b2c3: Speed up `parse_rows` by 42%\n\n"
        "The loop\nbuilt a list.\n\n"
        "Selfmod-Session: sess-9\nSelfmod-Safety-Score: 0.82\n"
        "Selfmod-Impact: -42% time (parse_rows)\nSelfmod-Signature: v1 SHA256:x c2ln\n")


def test_the_message_round_trips_through_the_parser() -> None:
    """Parsing a built message returns its id, title and trailers."""
    parsed = parse_commit_message(build_commit_message(FACTS))
    assert parsed.modification_id == "a1b2c3"
    assert parsed.title == "Speed up `parse_rows` by 42%"
    assert parsed.trailer("Selfmod-Safety-Score") == "0.82"
    assert parsed.trailer("Selfmod-Signature") is None


def test_a_title_with_newlines_stays_on_the_first_line() -> None:
    """Whitespace in the title and trailer values is collapsed."""
    message = build_commit_message(CommitFacts("x1", "two\nlines", impact="a\nb"))
    assert message.splitlines()[0] == "Self-modification: x1: two lines"
    assert "Selfmod-Impact: a b" in message


def test_a_message_without_trailers_has_no_empty_paragraph() -> None:
    """Only the first line and the reasoning are written when nothing else is known."""
    assert build_commit_message(CommitFacts("x1", "t", "why")) == (
        "Self-modification: x1: t\n\nwhy\n")


def test_a_trailer_joins_the_trailer_block_or_starts_one() -> None:
    """Appending a trailer extends the block, or adds one after the reasoning."""
    assert append_trailer("Self-modification: x: t\n\nA: 1\n", "B", "2") == (
        "Self-modification: x: t\n\nA: 1\nB: 2\n")
    assert append_trailer("Self-modification: x: t\n\nwhy\n", "B", "2") == (
        "Self-modification: x: t\n\nwhy\n\nB: 2\n")


@pytest.mark.parametrize("bad", ["", "a/b", "a b", "../x", "-x", "x" * 70, "a..b."])
def test_a_bad_modification_id_is_refused(bad: str) -> None:
    """An id that cannot name a branch is refused with a clear error."""
    with pytest.raises(GitError, match="bad modification id"):
        build_branch_name(bad)


def test_branch_names_carry_the_id() -> None:
    """Branches are self-mod/<id> and self-mod/<id>-revert."""
    assert build_branch_name("ab-1") == "self-mod/ab-1"
    assert build_branch_name("ab-1", revert=True) == "self-mod/ab-1-revert"


def test_a_safety_score_outside_zero_to_one_is_refused() -> None:
    """A safety score above 1 is a bug, not a trailer."""
    with pytest.raises(GitError, match="outside 0"):
        build_commit_message(CommitFacts("x1", "t", safety_score=1.5))


def test_a_message_of_someone_else_is_not_parsed() -> None:
    """A message without the Self-modification line is refused."""
    with pytest.raises(GitError, match="does not start with"):
        parse_commit_message("Fix typo\n")
