"""The accept/reject gates for one suggestion: pure functions of its evidence."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from bot.generate.suggestion import ModificationType
from bot.perf.stats import Comparison

# Suggestions that promise the same behaviour; a bug fix is meant to change some answers.
BEHAVIOUR_PRESERVING = frozenset({ModificationType.PERFORMANCE, ModificationType.REFACTOR})
THIN_EVIDENCE_CALLS = 3


class Reason(enum.StrEnum):
    """Why a suggestion is rejected."""

    UNSAFE = "unsafe"
    NO_TESTS = "no_tests"
    TEST_FAILURE = "test_failure"
    BEHAVIOUR_CHANGED = "behaviour_changed"
    NOT_MEASURED = "not_measured"
    NO_IMPROVEMENT = "no_improvement"
    PERFORMANCE_REGRESSION = "performance_regression"
    MEMORY_REGRESSION = "memory_regression"
    MORE_ERRORS = "more_errors"


@dataclass(frozen=True)
class Thresholds:
    """The numbers the gates compare against."""

    min_improvement: float = 0.20  # a performance change must save at least this share of time
    max_memory_increase: float = 0.05
    regression_safety_cap: float = 0.4  # a measured slowdown caps the safety score here


@dataclass(frozen=True)
class BehaviourCheck:
    """Original against changed function on the inputs the tests passed to it."""

    function: str
    recorded_calls: int
    compared: int
    mismatch: dict[str, str] | None = None  # input, original, changed
    note: str | None = None  # why nothing could be compared

    @property
    def is_thin(self) -> bool:
        """Tell whether the tests reach the function too rarely to say much."""
        return self.recorded_calls < THIN_EVIDENCE_CALLS


@dataclass(frozen=True)
class Measurement:
    """An A/B benchmark: the timing comparison, peak memory and error rates of both sides."""

    comparison: Comparison
    method: str
    memory_baseline: float | None = None  # peak bytes, median over runs
    memory_candidate: float | None = None
    error_rate_baseline: float = 0.0
    error_rate_candidate: float = 0.0

    @property
    def memory_delta(self) -> float:
        """Return the relative change of peak memory (0.1: 10% more); 0 when unmeasured."""
        if not self.memory_baseline or self.memory_candidate is None:
            return 0.0
        return (self.memory_candidate - self.memory_baseline) / self.memory_baseline

    @property
    def error_rate_change(self) -> float:
        """Return how much the error rate grew (negative: fewer errors)."""
        return self.error_rate_candidate - self.error_rate_baseline


@dataclass(frozen=True)
class Evidence:
    """Everything measured about one suggestion."""

    modification_type: ModificationType
    safety_score: float
    failing_tests: tuple[str, ...] | None = None  # None: the tests did not run
    tests_passed: int = 0
    behaviour: tuple[BehaviourCheck, ...] = ()
    measurement: Measurement | None = None


@dataclass(frozen=True)
class Rejection:
    """One reason, with what shows it."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class Decision:
    """The verdict on one suggestion."""

    approved: bool
    rejections: tuple[Rejection, ...]
    safety_score: float
    performance_impact: float | None
    notes: tuple[str, ...] = field(default=())

    @property
    def rejection_reasons(self) -> tuple[str, ...]:
        """Return the reasons' names."""
        return tuple(r.reason.value for r in self.rejections)

    def to_json(self) -> dict[str, Any]:
        """Return the decision as JSON values."""
        return {"approved": self.approved,
                "rejection_reasons": list(self.rejection_reasons),
                "rejections": [{"reason": r.reason.value, "detail": r.detail}
                               for r in self.rejections],
                "safety_score": self.safety_score,
                "performance_impact": self.performance_impact,
                "notes": list(self.notes)}


@dataclass(frozen=True)
class ValidationResult:
    """The PRD's performance validation figures."""

    execution_time_improvement: float
    memory_usage_delta: float
    error_rate_change: float


def build_validation_result(measurement: Measurement) -> ValidationResult:
    """Return the PRD's figures of a measurement."""
    return ValidationResult(measurement.comparison.improvement, measurement.memory_delta,
                            measurement.error_rate_change)


def decide(evidence: Evidence, thresholds: Thresholds | None = None) -> Decision:
    """Return the decision on a suggestion from its evidence."""
    limits = thresholds or Thresholds()
    notes = build_notes(evidence)
    if evidence.failing_tests:
        names = ", ".join(evidence.failing_tests[:10])
        more = len(evidence.failing_tests) - 10
        detail = f"failing tests: {names}" + (f" and {more} more" if more > 0 else "")
        return _reject(evidence, [Rejection(Reason.TEST_FAILURE, detail)], notes)
    changed = _behaviour_rejections(evidence)
    if changed:
        return _reject(evidence, changed, notes)
    rejections = _measurement_rejections(evidence, limits)
    score = evidence.safety_score
    if any(r.reason is Reason.PERFORMANCE_REGRESSION for r in rejections):
        score = min(score, limits.regression_safety_cap)
    if rejections:
        return Decision(False, tuple(rejections), score, _impact(evidence), notes)
    return Decision(True, (), score, _impact(evidence), notes)


def build_notes(evidence: Evidence) -> tuple[str, ...]:
    """Return what a reader should know about how thin the evidence is."""
    notes = []
    for check in evidence.behaviour:
        if check.note:
            notes.append(f"behaviour of {check.function} not compared: {check.note}")
        if check.is_thin:
            notes.append(f"thin evidence: the tests call {check.function} only "
                         f"{check.recorded_calls} time(s); behaviour was compared on "
                         f"{check.compared} input(s)")
    if evidence.failing_tests is not None and evidence.tests_passed == 0:
        notes.append("no test passed: the test suite proves little about this change")
    return tuple(notes)


def _reject(evidence: Evidence, rejections: list[Rejection],
            notes: tuple[str, ...]) -> Decision:
    return Decision(False, tuple(rejections), evidence.safety_score, None, notes)


def _behaviour_rejections(evidence: Evidence) -> list[Rejection]:
    if evidence.modification_type not in BEHAVIOUR_PRESERVING:
        return []
    found = []
    for check in evidence.behaviour:
        if check.mismatch is not None:
            m = check.mismatch
            found.append(Rejection(Reason.BEHAVIOUR_CHANGED,
                                   f"{check.function}{m.get('input', '')}: original "
                                   f"{m.get('original', '')}, changed {m.get('changed', '')}"))
    return found


def _measurement_rejections(evidence: Evidence, limits: Thresholds) -> list[Rejection]:
    measurement = evidence.measurement
    is_performance = evidence.modification_type is ModificationType.PERFORMANCE
    if measurement is None:
        if is_performance:
            return [Rejection(Reason.NOT_MEASURED,
                              "no benchmark could measure it: the tests never call the changed "
                              "function and no benchmark is configured")]
        return []
    found = []
    comparison = measurement.comparison
    interval = (f"{comparison.improvement:+.1%} time saved, 95% CI "
                f"[{comparison.low:+.1%}, {comparison.high:+.1%}] over {comparison.pairs} pairs")
    if comparison.significant_regression:
        found.append(Rejection(Reason.PERFORMANCE_REGRESSION, f"slower: {interval}"))
    elif is_performance and comparison.low < limits.min_improvement:
        found.append(Rejection(Reason.NO_IMPROVEMENT,
                               f"lower bound under {limits.min_improvement:.0%}: {interval}"))
    if measurement.memory_delta > limits.max_memory_increase:
        found.append(Rejection(Reason.MEMORY_REGRESSION,
                               f"peak memory up {measurement.memory_delta:.1%} (limit "
                               f"{limits.max_memory_increase:.0%})"))
    if measurement.error_rate_change > 0:
        found.append(Rejection(Reason.MORE_ERRORS,
                               f"error rate {measurement.error_rate_baseline:.1%} → "
                               f"{measurement.error_rate_candidate:.1%}"))
    return found


def _impact(evidence: Evidence) -> float | None:
    if evidence.measurement is None:
        return None
    return round(evidence.measurement.comparison.improvement * 100, 2)
