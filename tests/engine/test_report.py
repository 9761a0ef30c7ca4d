"""The run report: the documented JSON and the readable table, built without I/O."""

from __future__ import annotations

import json

from bot.engine.pipeline import STAGES, Outcome, RunResult
from bot.engine.report import REPORT_VERSION, build_run_json, render_text
from bot.generate.suggestion import FileChange, ModificationType, Suggestion
from bot.perf.decision import Decision, Evidence, Measurement, Reason, Rejection
from bot.perf.profile import FunctionTime
from bot.perf.sandboxed import BenchPlan
from bot.perf.sandboxed import TestRun as Run
from bot.perf.stats import compare_pairs


def _suggestion(title: str) -> Suggestion:
    return Suggestion(modification_type=ModificationType.PERFORMANCE,
                      files=(FileChange("graphs/walk.py", "a\n", "b\n"),), original_code="a",
                      modified_code="b", reasoning="why", rule_id="deque-queue",
                      target_symbols=("graphs.walk.breadth_first",), title=title)


def _result() -> RunResult:
    result = RunResult("/repo", "c0ffee" * 6 + "abcd", ("improve_performance",), "conservative")
    result.session_id = "s-1"
    result.baseline = Run(0, 3, (), 0, 1.25, "", True)
    result.profile = {"a.f": FunctionTime("a.f", 2, 0.5, 0.6),
                      "a.g": FunctionTime("a.g", 9, 1.5, 1.5)}
    measured = Measurement(compare_pairs([(1.0, 0.5)] * 6), "micro", 1000.0, 990.0)
    approved = Outcome(_suggestion("Use a deque"),
                       Decision(True, (), 1.0, 50.0),
                       Evidence(ModificationType.PERFORMANCE, 1.0, measurement=measured),
                       Run(0, 3, (), 0, 0.9, "", True), BenchPlan("micro"),
                       branch="self-mod/x", commit="f" * 40)
    rejected = Outcome(_suggestion("Bad idea"),
                       Decision(False, (Rejection(Reason.TEST_FAILURE, "failing: t1"),), 0.4,
                                None),
                       Evidence(ModificationType.PERFORMANCE, 1.0, failing_tests=("t1",)),
                       Run(1, 1, ("t1",), 0, 0.3, "", True, scope="targeted"))
    result.outcomes = [approved, rejected]
    result.stages["sandbox_tests"] = 2.5
    return result


def test_json_has_every_documented_field() -> None:
    """The report carries the version, stages, profile by own time and each suggestion."""
    report = build_run_json(_result())
    json.dumps(report)  # plain JSON values only
    assert report["version"] == REPORT_VERSION
    assert list(report["stages"]) == list(STAGES)
    assert [p["function"] for p in report["profile"]] == ["a.g", "a.f"]
    assert report["summary"] == {"suggestions": 2, "approved": 1, "rejected": 1}
    first, second = report["suggestions"]
    assert first["status"] == "approved" and first["branch"] == "self-mod/x"
    assert first["benchmark"]["improvement"] > 0.49 and first["benchmark_method"] == "micro"
    assert first["tests"]["scope"] == "full"
    assert second["rejection_reasons"] == ["test_failure"]
    assert second["tests"] == {"passed": 1, "failed": ["t1"], "skipped": 0, "seconds": 0.3,
                               "scope": "targeted"}


def test_text_report_is_a_table() -> None:
    """The table shows the decision, the interval, the rejection reason and the branch."""
    text = render_text(build_run_json(_result()))
    assert "time saved (95% CI)" in text
    assert "approved  +50%" in text
    assert "test_failure: failing: t1" in text
    assert "branch self-mod/x (ffffffffffff)" in text
    assert "1 approved, 1 rejected" in text
    # The profile is sampled: its lines give times, never a count of calls it did not make.
    assert "profile of the tests (sampled)" in text and " calls " not in text


def test_no_tests_reason_is_shown() -> None:
    """A run that proposes nothing says why."""
    result = RunResult("/repo", "abc", ("refactor",), "conservative", status="no_tests",
                       reason="the repository has no tests")
    text = render_text(build_run_json(result))
    assert "status: no_tests: the repository has no tests" in text
