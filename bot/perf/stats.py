"""Statistics of paired A/B timings: a bootstrap interval of the speedup and a signed-rank test.

Standard library only, and no imports from `bot`: this file is also copied into the sandbox,
where the measuring driver uses it to decide when an estimate is tight enough to stop.

Definitions. A pair is (baseline seconds, candidate seconds) measured back to back, in an order
drawn at random for each block of two pairs (see the driver). The improvement is the share of
time saved, 1 - geometric mean of candidate/baseline, so 0.20 means the candidate takes 20% less
time and -0.25 means it takes 25% more. Its 95% interval comes from an expanded percentile
bootstrap over the pairs (resampling whole pairs keeps the pairing that interleaving bought;
the expansion keeps the interval honest for few pairs). A result is significant only when the
interval excludes zero *and* a two-sided Wilcoxon signed-rank test of the pairs' log ratios
agrees (p < alpha): two views of the same noise must both see a difference. Alpha is 1%, not
the usual 5%: a claim of "faster" is what gets a change merged, and at 5% (2.5% each way) one
in eight runs of 20 comparisons of identical code shows two such claims by chance alone; at 1%
the signed-rank test also cannot decide on fewer than eight pairs. The interval must also clear a
noise floor of 2%: code layout, cache and allocator effects shift timings of identical code by a
few percent systematically (Mytkowicz et al., "Producing wrong data without doing anything
obviously wrong"), which no resampling of the same runs can see. Together these keep identical
code from passing for faster.

Stopping early. The measuring loop may stop as soon as the decision can no longer change, but it
only asks at fixed looks (`LOOKS`: after 8, 12 and 20 pairs), never after every pair: peeking at
an interval after each new pair and stopping on the first favourable one inflates the false
positive rate well past the nominal 5%. Success needs the interval's lower bound at or over the
improvement threshold (and the rank test to agree); futility is an upper bound under it, as long
as the point estimate does not lean towards a slowdown that more pairs could still prove. Such a
lean also keeps a tight interval from ending the measurement, and extends the time budget up to
twice (`out_of_time`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95
ALPHA = 0.01
RESAMPLES = 2000
NOISE_FLOOR = 0.02  # the smallest difference we ever call real
# The only pair counts at which the interval may stop the measurement; even, so that each side
# ran first equally often, and the first one the smallest the signed-rank test can decide on at
# ALPHA.
LOOKS = (8, 12, 20)
_EXACT_LIMIT = 30  # exact signed-rank distribution up to this many pairs


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
    """Return the expanded percentile bootstrap interval of the mean of values.

    The plain percentile interval is too narrow for few values (about 85% coverage for five
    instead of 95%), so its percentiles are moved out as far as Student's t would move a normal
    interval: Hesterberg's expanded percentile interval ("What teachers should know about the
    bootstrap", 2015).
    """
    if not values:
        raise ValueError("no values to resample")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    n = len(values)
    if n == 1:
        return values[0], values[0]
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    t = student_t_quantile(1 - (1 - confidence) / 2, n - 1)
    tail = NormalDist().cdf(-math.sqrt(n / (n - 1)) * t)
    return means[int(tail * (resamples - 1))], means[math.ceil((1 - tail) * (resamples - 1))]


def student_t_quantile(probability: float, df: int) -> float:
    """Return the t value under which `probability` of Student's t with df degrees lies."""
    if df < 1:
        raise ValueError("Student's t needs at least one degree of freedom")
    if not 0 < probability < 1:
        raise ValueError("probability must be between 0 and 1")
    if probability < 0.5:
        return -student_t_quantile(1 - probability, df)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < probability:
        high *= 2
    for _ in range(100):  # bisection: the CDF is monotonic and cheap
        mid = (low + high) / 2
        low, high = (mid, high) if _t_cdf(mid, df) < probability else (low, mid)
    return (low + high) / 2


def _t_cdf(t: float, df: int) -> float:
    """Student's t CDF for a whole number of degrees (Abramowitz & Stegun 26.7.3, 26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2:
        term = total = math.cos(theta)
        for k in range(3, df, 2):
            term *= cos2 * (k - 1) / k
            total += term
        area = (2 / math.pi) * (theta + (math.sin(theta) * total if df > 1 else 0.0))
    else:
        term = total = 1.0
        for k in range(2, df, 2):
            term *= cos2 * (k - 1) / k
            total += term
        area = math.sin(theta) * total
    return (1 + area) / 2


def signed_rank_p(differences: Sequence[float]) -> float:
    """Return the two-sided p-value of Wilcoxon's signed-rank test that differences centre on 0.

    Zero differences are dropped (Wilcoxon's convention); the exact null distribution is used
    without ties up to `_EXACT_LIMIT` differences, else the normal approximation.
    """
    nonzero = [d for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return 1.0
    ranks = _ranks([abs(d) for d in nonzero])
    positive = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    if n <= _EXACT_LIMIT and len(set(ranks)) == n:
        return _exact_signed_rank_p(positive, n)
    total = n * (n + 1) / 2
    tie_term = sum(t ** 3 - t for t in _tie_sizes(ranks))
    variance = n * (n + 1) * (2 * n + 1) / 24 - tie_term / 48
    if variance <= 0:
        return 1.0
    z = max(0.0, abs(positive - total / 2) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(z / math.sqrt(2)))


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


def _exact_signed_rank_p(positive: float, n: int) -> float:
    """Two-sided p from the exact null distribution of the positive rank sum (ranks 1..n)."""
    counts = [1]  # counts[w]: sign patterns of the ranks so far whose positive sum is w
    for rank in range(1, n + 1):
        grown = counts + [0] * rank
        for w, c in enumerate(counts):
            grown[w + rank] += c
        counts = grown
    mean = n * (n + 1) / 4
    distance = abs(positive - mean)
    extreme = sum(c for w, c in enumerate(counts) if abs(w - mean) >= distance - 1e-9)
    return min(1.0, extreme / (1 << n))


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
    return Comparison(
        pairs=len(pairs),
        improvement=1 - math.exp(mean_log),
        low=1 - math.exp(high_log),
        high=1 - math.exp(low_log),
        p_value=signed_rank_p(logs),
        baseline_median=_median([a for a, _ in pairs]),
        candidate_median=_median([b for _, b in pairs]),
    )


def is_tight(pairs: Sequence[tuple[float, float]], *, half_width: float) -> bool:
    """Tell whether the interval is narrower than 2 x half_width, and more pairs are moot.

    A tight interval around a slowdown the rank test has not confirmed yet (one noisy pair of
    eight is enough to deny it) is not the end: more pairs can still name it a regression.
    """
    if len(pairs) < 2:
        return False
    comparison = compare_pairs(pairs)
    return ((comparison.high - comparison.low) / 2 <= half_width
            and not _slower_unproven(comparison))


def out_of_time(pairs: Sequence[tuple[float, float]], *, elapsed: float,
                budget: float) -> bool:
    """Tell whether measuring must stop for time.

    Past the budget it stops, unless the estimate leans slower without proof: then it may take
    up to twice the budget, so that a slowdown is named as one rather than as no improvement.
    """
    if elapsed <= budget:
        return False
    if elapsed > 2 * budget or len(pairs) < 2:
        return True
    return not _slower_unproven(compare_pairs(pairs))


def _slower_unproven(comparison: Comparison) -> bool:
    return comparison.improvement < -NOISE_FLOOR and not comparison.significant_regression


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
    return None if _slower_unproven(comparison) else "futility"


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
