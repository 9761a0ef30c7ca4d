"""PRD story: performance validation measures real improvements and reports none for noise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.generate.suggestion import ModificationType
from bot.perf.decision import Evidence, build_validation_result, decide
from bot.perf.sandboxed import BenchPlan, PerfSandbox, TraceTarget

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = os.environ.get("SELFMOD_SANDBOX_IMAGE") or "selfmod-sandbox:latest"
FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"
WALK = TraceTarget("graphs.walk.breadth_first", "graphs/walk.py", "breadth_first", 4, 4)


async def _plan(perf: PerfSandbox, tree: Path) -> BenchPlan:
    run = await perf.run_tests(tree, "python -m pytest -q", trace=[WALK])
    assert run.succeeded
    return BenchPlan("micro", target=WALK, samples=run.trace[WALK.qualname].samples)


async def test_deque_rewrite_validates_at_least_20_percent(perf_sandbox: PerfSandbox,
                                                           tmp_path: Path) -> None:
    """The deque rewrite of the planted hot spot saves >= 20% time without memory or errors."""
    baseline = FIXTURES / "quadratic"
    candidate = tmp_path / "deque"
    shutil.copytree(baseline, candidate)
    path = candidate / "graphs" / "walk.py"
    path.write_text("from collections import deque\n" + path.read_text().replace(
        "queue = [start]", "queue = deque([start])").replace(".pop(0)", ".popleft()"))
    measured = await perf_sandbox.measure(baseline, candidate,
                                          await _plan(perf_sandbox, baseline))
    assert measured is not None
    result = build_validation_result(measured)
    assert result.execution_time_improvement >= 0.20
    assert measured.comparison.low >= 0.20
    assert result.memory_usage_delta <= 0.05
    assert result.error_rate_change <= 0.0
    decision = decide(Evidence(ModificationType.PERFORMANCE, 1.0, failing_tests=(),
                               tests_passed=3, measurement=measured))
    assert decision.approved and decision.performance_impact >= 20


async def test_identical_code_shows_no_improvement_19_of_20(perf_sandbox: PerfSandbox,
                                                            tmp_path: Path) -> None:
    """Of 20 A/A comparisons of identical code, at least 19 report no significant gain."""
    baseline = FIXTURES / "quadratic"
    twin = tmp_path / "twin"
    shutil.copytree(baseline, twin)
    plan = await _plan(perf_sandbox, baseline)
    improved = 0
    for _ in range(20):
        measured = await perf_sandbox.measure(baseline, twin, plan)
        assert measured is not None
        improved += measured.comparison.significant_improvement
        decision = decide(Evidence(ModificationType.PERFORMANCE, 1.0, failing_tests=(),
                                   tests_passed=3, measurement=measured))
        assert not decision.approved
    assert improved <= 1
