"""The accept/reject gates as pure functions of the evidence."""

from __future__ import annotations

from bot.generate.suggestion import ModificationType
from bot.perf.decision import (
    BehaviourCheck,
    Evidence,
    Measurement,
    Thresholds,
    build_validation_result,
    decide,
)
from bot.perf.stats import Comparison

PERF = ModificationType.PERFORMANCE


def _comparison(improvement: float, low: float, high: float, p: float = 0.001) -> Comparison:
    return Comparison(pairs=8, improvement=improvement, low=low, high=high, p_value=p,
                      baseline_median=1.0, candidate_median=1.0 - improvement)


def _measured(improvement: float, low: float, high: float, **kwargs: float) -> Measurement:
    return Measurement(_comparison(improvement, low, high), "micro", **kwargs)


def test_failing_tests_reject_with_their_names() -> None:
    """Tests failing after the change reject it as test_failure, naming the tests."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=("tests/test_a.py::test_order",)))
    assert not decision.approved
    assert decision.rejection_reasons == ("test_failure",)
    assert "tests/test_a.py::test_order" in decision.rejections[0].detail


def test_behaviour_mismatch_rejects_with_the_input() -> None:
    """A differing answer on a recorded input rejects as behaviour_changed, showing the input."""
    check = BehaviourCheck("m.f", 5, 5, {"input": "([3, 1],)", "original": "[3, 1]",
                                         "changed": "[1, 3]"})
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3, behaviour=(check,)))
    assert decision.rejection_reasons == ("behaviour_changed",)
    assert "([3, 1],)" in decision.rejections[0].detail


def test_bug_fix_may_change_behaviour() -> None:
    """A bug fix is not held to equal answers."""
    check = BehaviourCheck("m.f", 5, 5, {"input": "(None,)", "original": "1", "changed": "2"})
    decision = decide(Evidence(ModificationType.BUG_FIX, 0.9, failing_tests=(), tests_passed=3,
                               behaviour=(check,)))
    assert decision.approved


def test_lower_bound_under_threshold_is_no_improvement() -> None:
    """A performance change whose lower bound is under 20% is rejected as no_improvement."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3,
                               measurement=_measured(0.25, 0.15, 0.3)))
    assert decision.rejection_reasons == ("no_improvement",)


def test_threshold_is_configurable() -> None:
    """A lower threshold lets the same measurement through."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3,
                               measurement=_measured(0.25, 0.15, 0.3)),
                      Thresholds(min_improvement=0.1))
    assert decision.approved
    assert decision.performance_impact == 25.0


def test_slowdown_is_regression_with_low_safety() -> None:
    """A significant slowdown is performance_regression and the safety score drops under 0.5."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3,
                               measurement=_measured(-0.25, -0.3, -0.2)))
    assert not decision.approved
    assert "performance_regression" in decision.rejection_reasons
    assert decision.safety_score < 0.5


def test_refactor_slowdown_is_regression_too() -> None:
    """A refactor that measurably slows the code is rejected as a regression."""
    decision = decide(Evidence(ModificationType.REFACTOR, 0.9, failing_tests=(), tests_passed=1,
                               measurement=_measured(-0.3, -0.4, -0.2)))
    assert decision.rejection_reasons == ("performance_regression",)


def test_refactor_without_speedup_passes() -> None:
    """A refactor need not be faster, only not slower."""
    decision = decide(Evidence(ModificationType.REFACTOR, 0.9, failing_tests=(), tests_passed=1,
                               measurement=_measured(0.0, -0.05, 0.05, ), ))
    assert decision.approved


def test_memory_growth_rejects() -> None:
    """Peak memory up more than 5% rejects as memory_regression."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3,
                               measurement=_measured(0.5, 0.4, 0.6, memory_baseline=100.0,
                                                     memory_candidate=110.0)))
    assert decision.rejection_reasons == ("memory_regression",)


def test_more_errors_reject() -> None:
    """A higher error rate rejects as more_errors."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3,
                               measurement=_measured(0.5, 0.4, 0.6, error_rate_baseline=0.0,
                                                     error_rate_candidate=0.1)))
    assert decision.rejection_reasons == ("more_errors",)


def test_unmeasured_performance_change_is_rejected() -> None:
    """A performance claim nothing could measure is not approved."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3))
    assert decision.rejection_reasons == ("not_measured",)


def test_clear_win_is_approved_with_impact() -> None:
    """A passing, equivalent, 60% faster change is approved with its measured impact."""
    check = BehaviourCheck("m.f", 12, 12)
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3, behaviour=(check,),
                               measurement=_measured(0.6, 0.55, 0.65, memory_baseline=100.0,
                                                     memory_candidate=101.0)))
    assert decision.approved
    assert decision.performance_impact == 60.0
    assert decision.notes == ()


def test_thin_evidence_is_noted() -> None:
    """A function the tests call once gets a thin-evidence note."""
    decision = decide(Evidence(PERF, 0.9, failing_tests=(), tests_passed=3,
                               behaviour=(BehaviourCheck("m.f", 1, 1),),
                               measurement=_measured(0.6, 0.55, 0.65)))
    assert any("thin evidence" in note and "m.f" in note for note in decision.notes)


def test_validation_result_has_the_prd_figures() -> None:
    """The PRD's figures come from the measurement."""
    result = build_validation_result(_measured(0.3, 0.25, 0.35, memory_baseline=100.0,
                                               memory_candidate=102.0))
    assert result.execution_time_improvement == 0.3
    assert abs(result.memory_usage_delta - 0.02) < 1e-9
    assert result.error_rate_change == 0.0
