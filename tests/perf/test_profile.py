"""Profile entries mapped to indexed functions, and the rankings they drive."""

from __future__ import annotations

from pathlib import Path

from bot.analysis.index import build_index
from bot.perf.profile import FunctionTime, map_profile, merge_ranking, rank_by_profile
from bot.perf.sandboxed import ProfileEntry

FIXTURES = Path(__file__).parents[1] / "engine" / "fixtures"


def _time(name: str, own: float, cumulative: float | None = None) -> FunctionTime:
    return FunctionTime(name, 1, own, own if cumulative is None else cumulative)


def test_entries_map_to_functions_by_file_line_and_name() -> None:
    """A profile entry at a function's def line is that function; others are dropped."""
    index = build_index(FIXTURES / "quadratic")
    entries = [ProfileEntry("graphs/walk.py", 4, "breadth_first", 3, 0.5, 0.7),
               ProfileEntry("graphs/walk.py", 4, "other_name", 1, 9.0, 9.0),
               ProfileEntry("elsewhere.py", 1, "breadth_first", 1, 9.0, 9.0)]
    found = map_profile(entries, index)
    assert list(found) == ["graphs.walk.breadth_first"]
    assert found["graphs.walk.breadth_first"] == FunctionTime("graphs.walk.breadth_first", 3,
                                                              0.5, 0.7)


def test_rank_by_profile_puts_measured_time_first() -> None:
    """Measured names come first by own time; unmeasured ones keep their order after them."""
    times = {"b": _time("b", 0.1), "c": _time("c", 0.9)}
    assert rank_by_profile(["a", "b", "c", "d"], times) == ["c", "b", "a", "d"]


def test_merge_ranking_orders_measured_static_then_tested() -> None:
    """The merged ranking is measured time, then the static hot spots, then tested functions."""
    times = {"m": _time("m", 0.2), "n": _time("n", 0.0), "s2": _time("s2", 0.5)}
    assert merge_ranking(times, ["s1", "s2"], ["t", "s1"]) == ["s2", "m", "s1", "t"]


def test_merge_ranking_breaks_ties_by_cumulative_time() -> None:
    """Equal own time: the larger cumulative time comes first."""
    times = {"a": _time("a", 0.1, 0.2), "b": _time("b", 0.1, 0.9)}
    assert merge_ranking(times, [], []) == ["b", "a"]
