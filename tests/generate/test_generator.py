"""The generator turns rule rewrites into complete suggestions, guided by the index."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from unidiff import PatchSet

from bot.analysis.index import build_index
from bot.errors import GenerationError
from bot.generate import generator
from bot.generate.generator import GeneratorConfig, build_excerpts, generate_suggestions

LOOPY = '''import re


def hot(lines):
    n = 0
    for line in lines:
        for part in line.split():
            if re.match("a", part):
                n += 1
    return n


def cold(value):
    return re.match("a", value) is not None


def check(value):
    if value == None:
        return True
    return False
'''


def _project(tmp_path: Path, source: str = LOOPY) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(source)
    return root


def _generate(root: Path, goals: tuple[str, ...], **config: object):  # type: ignore[no-untyped-def]
    index = build_index(root, cache_dir=root.parent / "cache")
    return generate_suggestions(root, index, goals, GeneratorConfig(**config))  # type: ignore[arg-type]


def test_goals_select_the_kinds_of_rule(tmp_path: Path) -> None:
    """Only rules of the requested goals run."""
    root = _project(tmp_path)
    kinds = {s.modification_type.value for s in _generate(root, ("fix_bugs",))}
    assert kinds == {"bug_fix"}


def test_suggestion_has_every_field_and_a_parseable_diff(tmp_path: Path) -> None:
    """A rule suggestion names the function, carries both contents and a unidiff patch."""
    root = _project(tmp_path)
    [suggestion] = _generate(root, ("fix_bugs",))
    assert suggestion.target_symbols == ("pkg.mod.check",) and "pkg.mod.check" in \
        suggestion.reasoning
    assert suggestion.files[0].original == LOOPY and "is None" in (
        suggestion.files[0].modified or "")
    assert "value == None" in suggestion.original_code and "value is None" in \
        suggestion.modified_code
    assert [p.path for p in PatchSet(suggestion.diff)] == ["pkg/mod.py"]


def test_performance_rules_fire_only_where_the_index_sees_loops(tmp_path: Path) -> None:
    """The regex rule rewrites the looping function, not a loop-free one."""
    root = _project(tmp_path)
    suggestions = _generate(root, ("improve_performance",))
    assert [s.target_symbols for s in suggestions] == [("pkg.mod.hot",)]


def test_rule_ids_restrict_the_catalogue(tmp_path: Path) -> None:
    """With rule_ids, other rules do not run."""
    root = _project(tmp_path)
    assert _generate(root, ("fix_bugs",), rule_ids=("bare-except",)) == []


def test_rewrite_over_the_line_length_is_dropped(tmp_path: Path) -> None:
    """A rewrite that would exceed the repository's line length is not suggested."""
    long_name = "v" * 70
    source = f"def check({long_name}):\n    return {long_name} != None\n"
    root = _project(tmp_path, source)
    (root / "pyproject.toml").write_text("[tool.ruff]\nline-length = 85\n")
    assert _generate(root, ("fix_bugs",)) == []


def test_unknown_goal_is_an_error(tmp_path: Path) -> None:
    """An unknown goal is refused with its name."""
    root = _project(tmp_path)
    with pytest.raises(GenerationError, match="make_coffee"):
        _generate(root, ("make_coffee",))


def test_excerpts_hold_only_the_changed_region() -> None:
    """Excerpts carry the changed lines with one line of context."""
    before, after = build_excerpts("a\nb\nc\nd\ne\n", "a\nb\nC\nd\ne\n")
    assert (before, after) == ("b\nc\nd\n", "b\nC\nd\n")


def test_a_module_nested_too_deep_for_libcst_costs_only_itself(tmp_path: Path) -> None:
    """Python parses a 180-deep list, libcst's recursive walk cannot: that module gives no
    suggestion, and the others still do."""
    root = _project(tmp_path)
    deep = "[" * 180 + "1" + "]" * 180
    (root / "pkg" / "deep.py").write_text(
        f"def f(x):\n    if x == None:\n        return {deep}\n    return 0\n")
    index = build_index(root)
    assert "pkg.deep.f" in index.functions  # the index itself is fine with it
    suggestions = generate_suggestions(root, index, ("fix_bugs",))
    assert [s.target_symbols for s in suggestions] == [("pkg.mod.check",)]


def test_rewrites_stop_once_there_are_enough(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The first suggestions are the same with a lower limit, and only they are rewritten."""
    root = _project(tmp_path)
    (root / "pkg" / "more.py").write_text("".join(
        f"def check{n}(value):\n    return value == None\n\n\n" for n in range(5)))
    everything = _generate(root, ("fix_bugs",))
    assert len(everything) == 6
    rewrites: list[frozenset[str] | None] = []
    real_apply = generator.apply_rule

    def counting_apply(*args: Any, **kwargs: Any) -> Any:
        rewrites.append(kwargs.get("only"))
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(generator, "apply_rule", counting_apply)
    first_two = _generate(root, ("fix_bugs",), max_suggestions=2)
    assert [(s.target_symbols, s.files) for s in first_two] == [
        (s.target_symbols, s.files) for s in everything[:2]]
    assert len(rewrites) == 2


def _many_modules(tmp_path: Path) -> Path:
    root = _project(tmp_path)
    for n in range(10):
        (root / "pkg" / f"part{n}.py").write_text(LOOPY.replace("def check", f"def check{n}"))
    return root


def _shape(suggestions: list[Any]) -> list[tuple[Any, ...]]:
    return [(s.rule_id, s.target_symbols, s.files) for s in suggestions]


def test_survey_in_worker_processes_finds_the_same(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Surveyed by two worker processes or here, the suggestions are the same."""
    root = _many_modules(tmp_path)
    monkeypatch.setattr(generator, "usable_cores", lambda: 1)
    here = _generate(root, ("fix_bugs", "improve_performance"))
    assert len(here) == 22
    monkeypatch.setattr(generator, "usable_cores", lambda: 2)
    monkeypatch.setattr(generator, "_POOL_MIN_MODULES", 2)
    monkeypatch.setattr(generator, "_POOL_MIN_BYTES", 1)
    surveyed_in = []
    real_pool = generator.process_pool

    def watched_pool(count: int, **kwargs: Any) -> Any:
        surveyed_in.append(count)
        return real_pool(count, **kwargs)

    monkeypatch.setattr(generator, "process_pool", watched_pool)
    assert _shape(_generate(root, ("fix_bugs", "improve_performance"))) == _shape(here)
    assert surveyed_in == [2]


def _exit_at_once() -> None:
    os._exit(3)


def test_survey_workers_that_die_leave_the_work_to_this_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """Workers that exit at start (a broken pool) cost only time: the survey is done here."""
    root = _many_modules(tmp_path)
    monkeypatch.setattr(generator, "usable_cores", lambda: 1)
    here = _generate(root, ("fix_bugs",))
    monkeypatch.setattr(generator, "usable_cores", lambda: 2)
    monkeypatch.setattr(generator, "_POOL_MIN_MODULES", 2)
    monkeypatch.setattr(generator, "_POOL_MIN_BYTES", 1)
    real_pool = generator.process_pool
    monkeypatch.setattr(generator, "process_pool", lambda count, **kwargs: real_pool(
        count, preload=kwargs["preload"], initializer=_exit_at_once))
    assert _shape(_generate(root, ("fix_bugs",))) == _shape(here)
    assert "survey workers failed" in caplog.text
