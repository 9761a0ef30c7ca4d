"""Tests of how feedback on one modification adds up."""

from __future__ import annotations

from bot.learning.categories import Category
from bot.learning.verdict import FeedbackItem, judge


def test_merge_accepts_and_rollback_rejects_with_its_reason() -> None:
    """A merge accepts; a later rollback rejects and its reason is a complaint."""
    merged = [FeedbackItem("pull_request", 1, "merged", None)]
    assert judge(merged, None).accepted is True
    rolled = judge(merged, "broke the API")
    assert rolled.accepted is False
    assert rolled.complaints == ((Category.API_CONTRACT, "rolled back: broke the API"),)


def test_ratings_decide_without_an_outcome() -> None:
    """Without an outcome, 1..5 ratings around 3 and ±1 reactions add up."""
    assert judge([FeedbackItem("api", 5, None, "Great")], None).accepted is True
    assert judge([FeedbackItem("api", 2, None, None)], None).accepted is False
    assert judge([FeedbackItem("api", 3, None, None)], None).accepted is None
    assert judge([FeedbackItem("reaction", -1, "reaction", "-1")], None).accepted is False


def test_praise_with_a_complaint_accepts_and_keeps_the_complaint() -> None:
    """"Good but inconsistent naming" accepts the change and still teaches naming."""
    verdict = judge([FeedbackItem("api", 4, "naming", "Good but inconsistent naming")], None)
    assert verdict.accepted is True
    assert [c for c, _ in verdict.complaints] == [Category.NAMING]
