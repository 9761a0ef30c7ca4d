"""The profile of the repository's own run, mapped onto the index's functions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.perf.sandboxed import ProfileEntry

if TYPE_CHECKING:
    from bot.analysis.model import CodebaseIndex


@dataclass(frozen=True)
class FunctionTime:
    """Where a function's time went in the profiled run."""

    qualname: str
    calls: int
    own_seconds: float
    cumulative_seconds: float


def map_profile(entries: Iterable[ProfileEntry], index: CodebaseIndex) -> dict[str, FunctionTime]:
    """Return the profiled time of each indexed function, by qualified name."""
    by_place = {}
    for function in index.functions.values():
        for line in range(function.first_line, function.span.start_line + 1):
            by_place[(function.path, line, function.name)] = function.qualname
    found: dict[str, FunctionTime] = {}
    for entry in entries:
        name = by_place.get((entry.path, entry.line, entry.name))
        if name is not None and name not in found:
            found[name] = FunctionTime(name, entry.calls, entry.own_seconds,
                                       entry.cumulative_seconds)
    return found


def rank_by_profile(names: Sequence[str], times: dict[str, FunctionTime]) -> list[str]:
    """Order names by measured own time (most first), unmeasured ones after in their order."""
    position = {name: i for i, name in enumerate(names)}
    return sorted(names, key=lambda n: (-times[n].own_seconds if n in times else 0.0,
                                        n not in times, position[n]))


def merge_ranking(times: dict[str, FunctionTime], static: Sequence[str],
                  tested: Sequence[str]) -> list[str]:
    """Order functions for generation: measured own time first, then static rank, then tested."""
    measured = sorted(times.values(), key=lambda t: (-t.own_seconds, -t.cumulative_seconds,
                                                     t.qualname))
    ordered = dict.fromkeys(t.qualname for t in measured if t.own_seconds > 0)
    ordered.update(dict.fromkeys(static))
    ordered.update(dict.fromkeys(tested))
    return list(ordered)
