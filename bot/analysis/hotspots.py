"""Hot spots: the functions where an optimisation is most likely to pay and be provable."""

from __future__ import annotations

import math

from bot.analysis.model import CodebaseIndex, FunctionInfo, HotSpot

# An unexercised function can still be improved, but nothing would prove the change.
_UNEXERCISED_WEIGHT = 0.3
_BENCHMARK_BONUS = 1.5


def score_function(function: FunctionInfo, fan_in: int, tested: bool,
                   benchmarked: bool) -> float:
    """Score a function: loop nesting x size x call fan-in x whether tests or benchmarks run it."""
    depth = function.max_loop_depth
    if depth == 0:
        return 0.0  # without a loop there is rarely anything to gain
    nesting = depth ** 2 + 0.25 * len(function.loops)
    size = math.log2(1 + function.span.lines)
    callers = 1 + math.log2(1 + fan_in)
    exercised = _BENCHMARK_BONUS if benchmarked else 1.0 if tested else _UNEXERCISED_WEIGHT
    return round(nesting * size * callers * exercised, 3)


def rank_hot_spots(index: CodebaseIndex, limit: int = 20) -> tuple[HotSpot, ...]:
    """Return the best-scoring non-test functions, highest first."""
    spots = []
    # Only functions with loops outside test and benchmark code can score above zero.
    for function in index.hot_spot_candidates:
        name = function.qualname
        fan_in = index.fan_in(name)
        tested, benchmarked = name in index.tested, name in index.benchmarked
        score = score_function(function, fan_in, tested, benchmarked)
        spots.append(HotSpot(name, function.path, function.span, score,
                             function.max_loop_depth, function.span.lines, fan_in,
                             function.complexity, tested, benchmarked))
    spots.sort(key=lambda s: (-s.score, s.qualname))
    return tuple(spots[:limit])
