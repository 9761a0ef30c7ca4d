"""Tests of the Beta-Bernoulli statistics and the ranking."""

from __future__ import annotations

from bot.learning.stats import (
    ALL_AREAS,
    Acceptance,
    Observation,
    Prior,
    area_of,
    expected_acceptance,
    rank,
    suppressed_by_statistics,
    tally,
)


def test_posterior_mean_follows_the_counts() -> None:
    """The expected acceptance is (1 + accepted) / (2 + trials) under the uniform prior."""
    assert Acceptance().expected(Prior()) == 0.5
    assert Acceptance(3, 1).expected(Prior()) == 4 / 6


def test_five_rejections_suppress_and_four_do_not() -> None:
    """A rule stops after five straight rejections, not before."""
    four = tally([Observation("r", "pkg", False)] * 4)
    five = tally([Observation("r", "pkg", False)] * 5)
    assert suppressed_by_statistics(four, Prior()) == {}
    assert ("r", ALL_AREAS) in suppressed_by_statistics(five, Prior())


def test_acceptances_keep_a_rule_alive() -> None:
    """Five rejections among many acceptances do not suppress a rule."""
    counts = tally([Observation("r", "a", False)] * 5 + [Observation("r", "a", True)] * 5)
    assert suppressed_by_statistics(counts, Prior()) == {}


def test_area_statistics_shrink_toward_the_repository() -> None:
    """An area with data moves the estimate; one without falls back to the repository's."""
    counts = tally([Observation("r", "core", False)] * 3 + [Observation("r", "cli", True)] * 3)
    core = expected_acceptance(counts, "r", "core", Prior())
    cli = expected_acceptance(counts, "r", "cli", Prior())
    assert core < expected_acceptance(counts, "r", "docs", Prior()) < cli


def test_area_is_the_top_folder() -> None:
    """Areas are top folders (under src/ when there is one)."""
    assert area_of("src/pkg/mod.py") == "pkg"
    assert area_of("pkg/sub/mod.py") == "pkg"
    assert area_of("setup.py") == "setup.py"
    assert area_of("") == ALL_AREAS


def test_rank_orders_by_acceptance_times_benefit() -> None:
    """The product decides; ties keep the incoming order."""
    items = ["a", "b", "c"]
    acceptance = {"a": 0.2, "b": 0.9, "c": 0.9}.__getitem__
    benefit = {"a": 1.0, "b": 0.5, "c": 0.5}.__getitem__
    assert rank(items, acceptance=acceptance, benefit=benefit) == ["b", "c", "a"]
