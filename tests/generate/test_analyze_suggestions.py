"""`selfmod analyze PATH --json` lists the generator's suggestions with every field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from unidiff import PatchSet

FIXTURES = Path(__file__).parent / "fixtures"
FIELDS = ("id", "modification_type", "files", "diff", "original_code", "modified_code",
          "reasoning", "rule_id", "target_symbols", "expected_effect")
ALL_GOALS = ("improve_performance", "fix_bugs", "refactor")


def _analyze(root: Path, tmp_path: Path) -> dict[str, Any]:
    env = {**os.environ, "SELFMOD_DATA_DIR": str(tmp_path / "data")}
    env.pop("OPENAI_BASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "analyze", str(root), "--json", "--goals", *ALL_GOALS],
        capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_planted_issues_are_listed_with_every_field(tmp_path: Path) -> None:
    """Each planted kind of issue yields a suggestion carrying every documented field."""
    root = tmp_path / "planted"
    shutil.copytree(FIXTURES / "planted", root)
    suggestions = _analyze(root, tmp_path)["suggestions"]

    by_rule = {s["rule_id"]: s for s in suggestions}
    assert {"regex-hoist", "string-join", "mutable-default", "eq-none", "bare-except",
            "redundant-else", "private-naming"} <= set(by_rule)
    assert {s["modification_type"] for s in suggestions} == {"performance", "bug_fix",
                                                             "refactor"}
    for suggestion in suggestions:
        assert all(suggestion[f] not in (None, "", []) for f in FIELDS), suggestion
        patch = PatchSet(suggestion["diff"])
        assert {p.path for p in patch} == set(suggestion["files"])
        assert suggestion["target_symbols"][0].rsplit(".", 1)[-1] in suggestion["reasoning"]
    rename = by_rule["private-naming"]
    assert set(rename["files"]) == {"shop/orders.py", "shop/pricing.py"}
    assert "_format_price" in rename["diff"]


def test_rewrites_apply_and_the_project_tests_still_pass(tmp_path: Path) -> None:
    """Applying each performance suggestion's diff leaves the fixture's own tests green."""
    root = tmp_path / "planted"
    shutil.copytree(FIXTURES / "planted", root)
    for suggestion in _analyze(root, tmp_path)["suggestions"]:
        if suggestion["modification_type"] != "performance":
            continue
        work = tmp_path / suggestion["id"]
        shutil.copytree(FIXTURES / "planted", work)
        subprocess.run(["git", "apply", "-"], input=suggestion["diff"], text=True, cwd=work,
                       check=True, timeout=30)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-c", "/dev/null", "--rootdir", str(work), "tests"],
                              cwd=work, capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, done.stdout


def test_clean_code_gets_no_suggestions(tmp_path: Path) -> None:
    """A tidy codebase gets an empty suggestions list."""
    root = tmp_path / "clean"
    shutil.copytree(FIXTURES / "clean", root)
    assert _analyze(root, tmp_path)["suggestions"] == []
