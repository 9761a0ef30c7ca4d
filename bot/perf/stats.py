"""Statistics of paired A/B timings: a bootstrap interval of the speedup and a Mann-Whitney test.

Standard library only, and no imports from `bot`: this file is also copied into the sandbox,
where the measuring driver uses it to decide when an estimate is tight enough to stop.

Definitions. A pair is (baseline seconds, candidate seconds) measured back to back. The
improvement is the share of time saved, 1 - geometric mean of candidate/baseline, so 0.20 means
the candidate takes 20% less time and -0.25 means it takes 25% more. Its 95% interval comes from a
percentile bootstrap over the pairs (resampling whole pairs keeps the pairing that interleaving
bought). A result is significant only when the interval excludes zero *and* a two-sided
Mann-Whitney test of the two samples agrees (p < alpha): two independent views of the same noise
must both see a difference, and the interval must clear a noise floor of 2%: code layout, cache
and allocator effects shift timings of identical code by a few percent systematically (Mytkowicz
et al., "Producing wrong data without doing anything obviously wrong"), which no resampling of
the same runs can see. Together these keep identical code from passing for faster.

Stopping early. The measuring loop may stop as soon as the decision can no longer change, but it
only asks at fixed looks (`LOOKS`: after 5, 10 and 20 pairs), never after every pair: peeking at
an interval after each new pair and stopping on the first favourable one inflates the false
positive rate well past the nominal 5%. Success needs the interval's lower bound at or over the
improvement threshold (and the rank test to agree); futility is an upper bound under it, as long
as the point estimate does not lean towards a slowdown that more pairs could still prove.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
ALPHA = 0.05
RESAMPLES = 2000
NOISE_FLOOR = 0.02  # the smallest difference we ever call real
LOOKS = (5, 10, 20)  # the only pair counts at which the interval may stop the measurement
_EXACT_LIMIT = 24  # exact Mann-Whitney distribution up to this many observations in all


@dataclass(frozen=True)
class Comparison:
    """What paired timings say about a candidate against its baseline."""

    pairs: int
    improvement: float
    low: float
    high: float
    p_value: float
    baseline_median: float
    candidate_median: float

    @property
    def significant_improvement(self) -> bool:
        """Tell whether the candidate is faster beyond the noise."""
        return self.low > NOISE_FLOOR and self.p_value < ALPHA

    @property
    def significant_regression(self) -> bool:
        """Tell whether the candidate is slower beyond the noise."""
        return self.high < -NOISE_FLOOR and self.p_value < ALPHA

    @property
    def speedup(self) -> float:
        """Return baseline time over candidate time (2.0: twice as fast)."""
        return 1.0 / (1.0 - self.improvement)

    def to_json(self) -> dict[str, float | int | bool]:
        """Return the comparison as JSON values."""
        return {"pairs": self.pairs, "improvement": self.improvement, "ci_low": self.low,
                "ci_high": self.high, "confidence": CONFIDENCE, "p_value": self.p_value,
                "speedup": self.speedup, "baseline_median_seconds": self.baseline_median,
                "candidate_median_seconds": self.candidate_median,
                "significant_improvement": self.significant_improvement,
                "significant_regression": self.significant_regression}


def log_ratios(pairs: Sequence[tuple[float, float]]) -> list[float]:
    """Return log(candidate / baseline) of each pair; raise ValueError on a non-positive time."""
    if not pairs:
        raise ValueError("no pairs to compare")
    found = []
    for baseline, candidate in pairs:
        if not (baseline > 0 and candidate > 0) or math.isinf(baseline + candidate):
            raise ValueError(f"timings must be positive and finite, got {baseline}, {candidate}")
        found.append(math.log(candidate / baseline))
    return found


def bootstrap_mean_interval(values: Sequence[float], *, confidence: float = CONFIDENCE,
                            resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Return the percentile bootstrap interval of the mean of values."""
    if not values:
        raise ValueError("no values to resample")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    return means[int(tail * (resamples - 1))], means[math.ceil((1 - tail) * (resamples - 1))]


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Return the two-sided p-value of the Mann-Whitney U test of samples a and b."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        raise ValueError("both samples need at least one value")
    ranks = _ranks([*a, *b])
    u = sum(ranks[:m]) - m * (m + 1) / 2
    ties = len(set(a) | set(b)) < m + n
    if m + n <= _EXACT_LIMIT and not ties:
        return _exact_p(u, m, n)
    return _normal_p(u, m, n, [*a, *b])


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # ties share their mean rank
        i = j + 1
    return ranks


def _exact_p(u: float, m: int, n: int) -> float:
    """Two-sided p from the exact null distribution of U (no ties)."""
    counts = _u_counts(m, n)
    total = sum(counts)
    mean = m * n / 2
    distance = abs(u - mean)
    extreme = sum(c for value, c in enumerate(counts) if abs(value - mean) >= distance - 1e-9)
    return min(1.0, extreme / total)


def _u_counts(m: int, n: int) -> list[int]:
    """Return how many orderings give each U = 0..m*n (the classic recursion, bottom-up)."""
    # table[i][j] is the count list for sample sizes i and j.
    table: list[list[list[int]]] = [[[1] for _ in range(n + 1)] for _ in range(m + 1)]
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            left, down = table[i - 1][j], table[i][j - 1]
            counts = [0] * (i * j + 1)
            for value, c in enumerate(left):
                counts[value + j] += c  # the largest value belongs to the first sample
            for value, c in enumerate(down):
                counts[value] += c
            table[i][j] = counts
    return table[m][n]


def _normal_p(u: float, m: int, n: int, values: list[float]) -> float:
    """Two-sided p from the normal approximation with tie and continuity corrections."""
    total = m + n
    tie_term = sum(t ** 3 - t for t in _tie_sizes(values))
    variance = m * n / 12 * ((total + 1) - tie_term / (total * (total - 1)))
    if variance <= 0:
        return 1.0
    z = max(0.0, abs(u - m * n / 2) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2)))


def _tie_sizes(values: list[float]) -> list[int]:
    seen: dict[float, int] = {}
    for value in values:
        seen[value] = seen.get(value, 0) + 1
    return [count for count in seen.values() if count > 1]


def compare_pairs(pairs: Sequence[tuple[float, float]], *, seed: int = 0) -> Comparison:
    """Return the comparison of paired (baseline, candidate) timings."""
    logs = log_ratios(pairs)
    low_log, high_log = bootstrap_mean_interval(logs, seed=seed)
    mean_log = sum(logs) / len(logs)
    baseline = [a for a, _ in pairs]
    candidate = [b for _, b in pairs]
    return Comparison(
        pairs=len(pairs),
        improvement=1 - math.exp(mean_log),
        low=1 - math.exp(high_log),
        high=1 - math.exp(low_log),
        p_value=mann_whitney_p(baseline, candidate),
        baseline_median=_median(baseline),
        candidate_median=_median(candidate),
    )


def is_tight(pairs: Sequence[tuple[float, float]], *, half_width: float) -> bool:
    """Tell whether the improvement's interval is narrower than 2 x half_width."""
    if len(pairs) < 2:
        return False
    comparison = compare_pairs(pairs)
    return (comparison.high - comparison.low) / 2 <= half_width


def decide_stop(pairs: Sequence[tuple[float, float]], *, threshold: float | None,
                looks: Sequence[int] = LOOKS) -> str | None:
    """Return why measuring can stop at this look ("success" or "futility"), else None.

    `threshold` is the improvement a performance suggestion must show (0.20); None for a change
    that is measured only for regressions, which can never succeed early.
    """
    if len(pairs) not in looks:
        return None
    comparison = compare_pairs(pairs)
    if threshold is not None and comparison.low >= threshold and comparison.p_value < ALPHA:
        return "success"
    if threshold is not None and comparison.high >= threshold:
        return None  # the threshold is still within reach
    # Approval is out of reach; whether the reason is a slowdown is settled unless the estimate
    # leans slower without proof yet.
    leans_slower = comparison.improvement < -NOISE_FLOOR
    if leans_slower and not comparison.significant_regression:
        return None
    return "futility"


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
