"""The pipeline's pure choices: what to generate for, which tests to run, the commit message."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from bot.analysis.index import build_index
from bot.analysis.model import CodebaseIndex
from bot.engine.pipeline import (
    Outcome,
    build_commit_message,
    build_test_selection,
    build_trace_targets,
    choose_generation_modules,
    is_selectable,
    last_error_lines,
)
from bot.generate.suggestion import FileChange, ModificationType, Suggestion
from bot.perf.decision import Decision, Evidence
from bot.perf.profile import FunctionTime
from bot.vcs.message import parse_commit_message

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def index(tmp_path: Path) -> CodebaseIndex:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "quadratic", root)
    (root / "graphs" / "cold.py").write_text(
        '"""Rarely run."""\n\n\ndef total(values):\n    """Sum."""\n    out = 0\n'
        "    for v in values:\n        for w in values:\n            out += v * w\n"
        "    return out\n")
    return build_index(root)


def _suggestion(target: str) -> Suggestion:
    return Suggestion(modification_type=ModificationType.PERFORMANCE,
                      files=(FileChange("graphs/walk.py", "a\n", "b\n"),), original_code="a",
                      modified_code="b", reasoning="Use a deque.", rule_id="deque-queue",
                      target_symbols=(target,), title="Use a deque")


@pytest.mark.parametrize(("command", "expected"), [
    ("python -m pytest -q", True), ("pytest -x -q", True), ("python -m pytest tests/unit", False),
    ("python -m pytest -k fast", False), ("make test", False), ("tox", False)])
def test_selectable_commands(command: str, expected: bool) -> None:
    """Tests are appended only to a pytest command that names no paths or option values."""
    assert is_selectable(command) is expected


def test_selection_names_the_tests_reaching_the_change(index: CodebaseIndex) -> None:
    """The selection is the pytest ids of the tests that call the changed function."""
    targets = build_trace_targets(index, [_suggestion("graphs.walk.breadth_first")])
    selected = build_test_selection(index, "python -m pytest -q", targets)
    assert selected == ("tests/test_walk.py::test_small_graph_order",
                        "tests/test_walk.py::test_unknown_start_is_alone",
                        "tests/test_walk.py::test_wide_graph_visits_everything")


def test_untested_change_runs_the_whole_suite(index: CodebaseIndex) -> None:
    """A changed function no test is known to reach gets the whole suite (None)."""
    targets = build_trace_targets(index, [_suggestion("graphs.cold.total")])
    assert targets and build_test_selection(index, "python -m pytest -q", targets) is None


def test_no_selection_for_other_test_commands(index: CodebaseIndex) -> None:
    """A test command that is not plain pytest is never cut down."""
    targets = build_trace_targets(index, [_suggestion("graphs.walk.breadth_first")])
    assert build_test_selection(index, "make test", targets) is None


def test_generation_follows_the_measured_time(index: CodebaseIndex) -> None:
    """The module where the profile says time goes comes first, within the budget."""
    profile = {"graphs.cold.total": FunctionTime("graphs.cold.total", 5, 2.0, 2.0)}
    assert choose_generation_modules(index, profile, 1) == ["graphs.cold"]
    hot_first = choose_generation_modules(index, {}, 5)
    assert set(hot_first[:2]) == {"graphs.walk", "graphs.cold"}
    assert hot_first[2:] == ["graphs"]  # the budget left goes to the other modules


def test_generation_never_targets_tests(index: CodebaseIndex) -> None:
    """Time spent in test functions does not choose a test module for generation."""
    profile = {"tests.test_walk.test_wide_graph_visits_everything": FunctionTime(
        "tests.test_walk.test_wide_graph_visits_everything", 1, 9.0, 9.0)}
    assert "tests.test_walk" not in choose_generation_modules(index, profile, 5)


def test_commit_message_is_a_self_modification_message() -> None:
    """The message names the modification, the session and the score, without a signature."""
    suggestion = _suggestion("graphs.walk.breadth_first")
    outcome = Outcome(suggestion, Decision(True, (), 1.4, 40.0),
                      Evidence(ModificationType.PERFORMANCE, 1.0))
    session = str(uuid.uuid4())
    parsed = parse_commit_message(build_commit_message(outcome, session))
    assert parsed.modification_id == str(suggestion.id)
    assert parsed.title == "Use a deque"
    assert parsed.trailer("Selfmod-Session") == session
    assert parsed.trailer("Selfmod-Safety-Score") == "1.00"  # clamped to the 0..1 scale
    assert parsed.trailer("Selfmod-Signature") is None


async def test_slow_steps_run_off_the_event_loop(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexing, generation, validation and commits leave the loop free (the REST API's)."""
    import threading

    from bot.analysis.repoconfig import RepoConfig
    from bot.engine import pipeline as module
    from bot.engine.pipeline import Pipeline, RunOptions, RunResult

    where: dict[str, bool] = {}

    def spy(name: str, work: object) -> object:
        def call(*args: object, **kwargs: object) -> object:
            where[name] = threading.current_thread() is threading.main_thread()
            return work(*args, **kwargs)  # type: ignore[operator]
        return call

    for name in ("build_index", "generate_suggestions", "validate"):
        monkeypatch.setattr(module, name, spy(name, getattr(module, name)))

    class Writer:
        def write(self, repo: Path, request: object) -> str:
            where["commit"] = threading.current_thread() is threading.main_thread()
            return "0" * 40

    base = tmp_path / "repo"
    base.mkdir()
    (base / "sign.py").write_text(
        "def sign(x):\n    if x < 0:\n        return -1\n    else:\n        return 1\n")
    result = RunResult(str(base), "0" * 40, ("refactor",), "moderate")
    await Pipeline(perf=None, writer=Writer(), store=None, llm=None,  # type: ignore[arg-type]
                   progress=lambda stage, detail: None, cache_dir=None).run(
        base, "0" * 40, base, RepoConfig(), RunOptions(allow_unverified=True), result)
    assert result.outcomes, "the redundant else should have been proposed"
    assert where == {"build_index": False, "generate_suggestions": False, "validate": False,
                     "commit": False}


def test_a_failed_baseline_is_told_by_its_error_lines() -> None:
    """pytest's `E` lines say what broke; without them, the log's last lines do."""
    log = ("==== ERRORS ====\n___ ERROR collecting tests/test_a.py ___\n"
           "ImportError while importing test module '/w/tests/test_a.py'.\n"
           "E   ModuleNotFoundError: No module named 'numpy'\n"
           "!!!! Interrupted: 1 error during collection !!!!\n1 error in 0.09s\n")
    assert last_error_lines(log) == "ModuleNotFoundError: No module named 'numpy'"
    assert last_error_lines("a\nb\n\nc\nd\ne\n") == "b | c | d | e"
    assert last_error_lines("") == "the test command printed nothing"
    assert last_error_lines("E   " + "x" * 2000).startswith("...")
