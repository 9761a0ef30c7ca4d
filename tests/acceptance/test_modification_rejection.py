"""PRD story: modifications that break or slow the code are rejected, with their reasons."""

from __future__ import annotations

import ast
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.engine.command import run_local
from bot.engine.pipeline import RunOptions
from bot.generate.llm_double import LLMDouble, ScriptedReply
from bot.generate.suggestion import ModificationType
from bot.perf.decision import Evidence, Thresholds, decide
from bot.perf.sandboxed import BenchPlan, PerfSandbox, TraceTarget
from bot.settings import Settings

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = os.environ.get("SELFMOD_SANDBOX_IMAGE") or "selfmod-sandbox:latest"
FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"
# A rewrite that looks right and is faster, but loses the first-seen order.
SET_REWRITE = {"code": "def unique_ids(ids):\n    \"\"\"Return the ids without repeats, in "
               "the order first seen.\"\"\"\n    return list(set(ids))\n",
               "reasoning": "a set removes repeats in linear time",
               "expected_effect": "linear instead of quadratic"}


async def _run_with_llm(repo: Path, tmp_path: Path) -> dict:
    async with LLMDouble([ScriptedReply.json_answer(SET_REWRITE)]) as double:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
                            sandbox_image=IMAGE, data_dir=tmp_path / "data",
                            openai_base_url=double.base_url, openai_api_key="test")
        return await run_local(repo, RunOptions(goals=("improve_performance",)), settings)


def _llm_item(report: dict) -> dict:
    items = [s for s in report["suggestions"] if s["rule_id"] == "llm"]
    assert len(items) == 1, report
    return items[0]


async def test_trap_caught_by_tests_is_test_failure(fixture_repo: Callable[[str], Path],
                                                    tmp_path: Path) -> None:
    """An order-losing rewrite that the tests catch is rejected as test_failure, no branch."""
    report = await _run_with_llm(fixture_repo("trap_tests"), tmp_path)
    item = _llm_item(report)
    assert item["status"] == "rejected"
    assert item["rejection_reasons"] == ["test_failure"]
    assert any("test_keeps_first_seen_order" in name for name in item["tests"]["failed"])
    assert item["branch"] is None and item["benchmark"] is None


async def test_trap_missed_by_tests_is_behaviour_changed(fixture_repo: Callable[[str], Path],
                                                         tmp_path: Path) -> None:
    """The same rewrite, which the tests miss, is exposed by the recorded inputs."""
    report = await _run_with_llm(fixture_repo("trap_inputs"), tmp_path)
    item = _llm_item(report)
    assert item["tests"]["failed"] == []
    assert item["rejection_reasons"] == ["behaviour_changed"]
    detail = item["rejections"][0]["detail"]
    # The first recorded input on which the two differ, with both answers.
    shown = re.fullmatch(r"catalog\.ids\.unique_ids\((\[.*?\])\): original returned (\[.*?\]);"
                         r".* changed returned (\[.*?\]);.*", detail)
    assert shown is not None, detail
    given, original, changed = (ast.literal_eval(g) for g in shown.groups())
    assert original == list(dict.fromkeys(given)) and changed != original
    assert item["branch"] is None


async def test_planted_slowdown_is_a_regression_19_of_20(perf_sandbox: PerfSandbox,
                                                         tmp_path: Path) -> None:
    """A change that makes the code 25% slower is rejected as performance_regression."""
    baseline = FIXTURES / "slowdown"
    candidate = tmp_path / "slower"
    shutil.copytree(baseline, candidate)
    path = candidate / "metrics" / "energy.py"
    # The same answer with a quarter of the loop run a second time.
    path.write_text(path.read_text().replace(
        "    return total\n",
        "    extra = 0\n    for value in values[: len(values) // 4]:\n"
        "        extra += value * value\n    return total\n"))
    target = TraceTarget("metrics.energy.energy", "metrics/energy.py", "energy", 4, 4)
    run = await perf_sandbox.run_tests(baseline, "python -m pytest -q", trace=[target])
    samples = run.trace[target.qualname].samples
    assert samples
    plan = BenchPlan("micro", target=target, samples=samples)
    found = 0
    missed = []
    for _ in range(20):
        # As the pipeline measures a performance suggestion: may stop early at a look.
        measured = await perf_sandbox.measure(baseline, candidate, plan,
                                              threshold=Thresholds().min_improvement)
        decision = decide(Evidence(ModificationType.PERFORMANCE, 0.9, failing_tests=(),
                                   tests_passed=2, measurement=measured))
        if "performance_regression" in decision.rejection_reasons:
            assert decision.safety_score < 0.5
            assert not decision.approved
            found += 1
        else:
            missed.append([(r.reason.value, r.detail) for r in decision.rejections])
    assert found >= 19, missed


async def test_identical_code_stopped_early_is_not_an_improvement_19_of_20(
        perf_sandbox: PerfSandbox) -> None:
    """Measured with the early-stopping looks, 20 A/A comparisons give at most 1 improvement."""
    tree = FIXTURES / "slowdown"
    target = TraceTarget("metrics.energy.energy", "metrics/energy.py", "energy", 4, 4)
    run = await perf_sandbox.run_tests(tree, "python -m pytest -q", trace=[target])
    plan = BenchPlan("micro", target=target, samples=run.trace[target.qualname].samples)
    improved = 0
    for _ in range(20):
        measured = await perf_sandbox.measure(tree, tree, plan,
                                              threshold=Thresholds().min_improvement)
        assert measured is not None
        improved += measured.comparison.significant_improvement
        decision = decide(Evidence(ModificationType.PERFORMANCE, 0.9, failing_tests=(),
                                   tests_passed=2, measurement=measured))
        assert not decision.approved
    assert improved <= 1
