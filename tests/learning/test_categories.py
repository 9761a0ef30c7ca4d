"""Tests of the phrase rules that read complaints from feedback."""

from __future__ import annotations

import pytest

from bot.learning.categories import Category, classify, parse_category_text


@pytest.mark.parametrize(("text", "expected"), [
    ("Broke existing API contract", (Category.API_CONTRACT,)),
    ("broke the API", (Category.API_CONTRACT,)),
    ("Good but inconsistent naming", (Category.NAMING,)),
    ("this is hard to read", (Category.READABILITY,)),
    ("slower on large inputs", (Category.PERFORMANCE,)),
    ("wrong result on an empty list", (Category.CORRECTNESS,)),
])
def test_complaints_are_classified(text: str, expected: tuple[Category, ...]) -> None:
    """Each kind of complaint is recognised from its usual words."""
    assert classify(text) == expected


@pytest.mark.parametrize("text", ["Great performance improvement", "LGTM", "", None])
def test_praise_and_silence_are_no_complaint(text: str | None) -> None:
    """Praise, even about performance, tightens nothing."""
    assert classify(text) == ()


def test_category_text_round_trips_and_ignores_other_values() -> None:
    """Stored categories read back; outcome labels such as `merged` are not categories."""
    assert parse_category_text("api_contract,naming") == (Category.API_CONTRACT,
                                                          Category.NAMING)
    assert parse_category_text("merged") == ()
