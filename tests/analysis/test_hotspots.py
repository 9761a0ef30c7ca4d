"""Tests of the hot-spot ranking."""

from __future__ import annotations

from pathlib import Path

from bot.analysis.hotspots import rank_hot_spots
from bot.analysis.index import build_index

PROJECT = Path(__file__).parent / "fixtures" / "project"


def test_nested_tested_loop_ranks_first() -> None:
    """The doubly nested, tested and benchmarked loop outranks a single untested loop."""
    spots = rank_hot_spots(build_index(PROJECT))
    assert [s.qualname for s in spots] == ["shop.pricing.total_price", "shop.cart.Cart._private",
                                           "shop.pricing._unused"]
    first = spots[0]
    assert (first.loop_depth, first.tested, first.benchmarked, first.fan_in) == (2, True, True, 3)


def test_functions_without_loops_and_tests_are_not_hot_spots() -> None:
    """Loop-free functions and test code never appear."""
    names = {s.qualname for s in rank_hot_spots(build_index(PROJECT))}
    assert "shop.pricing.pair_bonus" not in names
    assert not any(n.startswith(("test_", "bench_")) for n in names)


def test_limit_is_respected() -> None:
    """The ranking is cut at the limit."""
    assert len(rank_hot_spots(build_index(PROJECT), limit=1)) == 1
