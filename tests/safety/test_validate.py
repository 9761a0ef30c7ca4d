"""Static safety validation of suggestions, with real bandit."""

from __future__ import annotations

import pytest

from bot.generate.suggestion import FileChange, ModificationType, Suggestion
from bot.safety.checks import Check, Policy
from bot.safety.score import SafetyLevel, build_score
from bot.safety.validate import find_problems, validate

ORIGINAL = "import json\n\n\ndef load(text, strict=True):\n    return json.loads(text)\n"
POLICY = Policy(own_modules=frozenset({"mypkg"}), dependencies=frozenset({"requests-toolbelt",
                                                                            "attrs"}))


def _suggestion(modified: str | None, path: str = "mypkg/io.py", original: str | None = ORIGINAL,
                declares_api_change: bool = False) -> Suggestion:
    change = FileChange(path, original, modified)
    return Suggestion(ModificationType.PERFORMANCE, (change,), original or "", modified or "",
                      "why", "rule", declares_api_change=declares_api_change)


def _checks(modified: str, **kwargs: object) -> set[Check]:
    return {f.check for f in find_problems(_suggestion(modified, **kwargs), POLICY)}


def test_a_clean_change_scores_one_and_passes_conservative() -> None:
    """A behaviour-preserving edit has no findings, score 1.0, and is accepted."""
    modified = ORIGINAL.replace("return json.loads(text)",
                                "data = json.loads(text)\n    return data")
    suggestion, verdict = validate(_suggestion(modified), POLICY, SafetyLevel.CONSERVATIVE)
    assert verdict.accepted and verdict.score == 1.0 and verdict.reasons == ()
    assert suggestion.safety_score == 1.0


def test_a_file_that_does_not_parse_scores_zero() -> None:
    """A syntax error gives score 0 and names the line."""
    suggestion, verdict = validate(_suggestion("def load(:\n"), POLICY, SafetyLevel.AGGRESSIVE)
    assert verdict.score == 0.0 and not verdict.accepted
    assert any("does not parse: line 1" in r for r in suggestion.safety_reasons)


@pytest.mark.parametrize("code", [
    "eval(text)", "exec(text)", "compile(text, 'x', 'exec')", "__import__('os')",
    "os.system('ls')", "pickle.loads(text)",
])
def test_an_added_dangerous_call_is_rejected(code: str) -> None:
    """eval/exec/compile/os.system/pickle loading added by a change give score 0."""
    modified = ORIGINAL + f"\n\ndef extra(text):\n    import os, pickle\n    return {code}\n"
    assert Check.DANGEROUS_CALL in _checks(modified)
    _, verdict = validate(_suggestion(modified), POLICY, SafetyLevel.AGGRESSIVE)
    assert verdict.score == 0.0 and not verdict.accepted


@pytest.mark.parametrize("module", ["subprocess", "socket", "ctypes", "urllib.request"])
def test_an_added_dangerous_module_is_rejected(module: str) -> None:
    """Importing subprocess, socket, ctypes or a network client is a dangerous addition."""
    assert Check.DANGEROUS_CALL in _checks(f"import {module}\n" + ORIGINAL)


def test_an_existing_dangerous_call_is_not_blamed_on_the_change() -> None:
    """A call present before the change is not counted as added."""
    original = ORIGINAL + "\n\ndef run(text):\n    return eval(text)\n"
    modified = original.replace("return eval(text)", "value = eval(text)\n    return value")
    assert Check.DANGEROUS_CALL not in _checks(modified, original=original)


def test_imports_outside_stdlib_and_dependencies_are_findings() -> None:
    """An undeclared third-party import is a finding; stdlib, own and declared ones are not."""
    assert Check.IMPORT in _checks("import numpy\n" + ORIGINAL)
    assert _checks("import functools\nimport attrs\nimport mypkg.util\n"
                   "import requests_toolbelt\n" + ORIGINAL) == set()


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", "setup.py", "pyproject.toml",
                                  "requirements-dev.txt", "poetry.lock", "pkg/conftest.py",
                                  "tests/test_io.py", ".ci/run", "../outside.py"])
def test_protected_paths_are_rejected(path: str) -> None:
    """CI files, manifests, lock files, setup.py, conftest.py and tests score 0."""
    suggestion = _suggestion("x = 1\n", path=path, original="x = 0\n")
    _, verdict = validate(suggestion, POLICY, SafetyLevel.AGGRESSIVE)
    assert verdict.score == 0.0 and any("protected_path" in r for r in verdict.reasons)


def test_tests_may_change_when_the_goal_allows() -> None:
    """With allow_tests, a test file is not protected."""
    policy = Policy(allow_tests=True)
    change = _suggestion("x = 1\n", path="tests/test_io.py", original="x = 0\n")
    assert find_problems(change, policy) == []


def test_a_changed_public_signature_needs_a_declaration() -> None:
    """Removing a parameter of a public function is a finding unless declared."""
    modified = ORIGINAL.replace("def load(text, strict=True)", "def load(text)")
    assert _checks(modified) == {Check.PUBLIC_API}
    assert _checks(modified, declares_api_change=True) == set()


def test_a_removed_public_name_is_a_finding() -> None:
    """Renaming a public function to a private one removes it from the API."""
    assert Check.PUBLIC_API in _checks(ORIGINAL.replace("def load", "def _load"))


def test_new_bandit_issues_are_findings_and_old_ones_are_not() -> None:
    """A new medium+ bandit issue is reported; one already there before is not."""
    risky = "import hashlib\n\ndef digest(b):\n    return hashlib.md5(b).hexdigest()\n"
    assert _checks(risky, original="def digest(b):\n    return b\n") == {Check.BANDIT}
    assert _checks(risky.replace("return", "value =") + "    return value\n",
                   original=risky) == set()


def test_a_diff_over_the_size_limit_is_a_finding() -> None:
    """More changed lines than the policy allows lowers the score."""
    modified = ORIGINAL + "".join(f"\nX{i} = {i}" for i in range(50)) + "\n"
    findings = find_problems(_suggestion(modified), Policy(max_changed_lines=10))
    assert [f.check for f in findings] == [Check.DIFF_SIZE]


class TestScore:
    """The score is a pure function of the findings."""

    def test_levels_decide_by_threshold(self) -> None:
        """One new bandit issue (0.5) fails conservative, passes moderate and aggressive."""
        modified = "import hashlib\n" + ORIGINAL + "\nH = hashlib.md5(b'x')\n"
        results = {level: validate(_suggestion(modified), POLICY, level)[1].accepted
                   for level in SafetyLevel}
        assert results == {SafetyLevel.CONSERVATIVE: False, SafetyLevel.MODERATE: True,
                           SafetyLevel.AGGRESSIVE: True}

    def test_no_findings_score_one(self) -> None:
        """With nothing found the score is 1.0."""
        assert build_score([]) == 1.0

    def test_a_rejected_suggestion_keeps_its_reasons(self) -> None:
        """The reasons travel on the returned suggestion."""
        suggestion, verdict = validate(_suggestion("import numpy\nimport socket\n" + ORIGINAL),
                                       POLICY, SafetyLevel.MODERATE)
        assert not verdict.accepted
        assert suggestion.safety_reasons == verdict.reasons and len(verdict.reasons) == 2
