"""Static checks of a Suggestion before anything runs: each returns findings, never raises."""

from __future__ import annotations

import ast
import enum
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.generate.suggestion import FileChange, Suggestion


class Check(enum.StrEnum):
    """The checks, one per kind of risk."""

    PARSES = "parses"
    BANDIT = "bandit"
    DANGEROUS_CALL = "dangerous_call"
    IMPORT = "import"
    PROTECTED_PATH = "protected_path"
    PUBLIC_API = "public_api"
    DIFF_SIZE = "diff_size"


@dataclass(frozen=True)
class Finding:
    """One problem a check found, with the file it is in."""

    check: Check
    path: str
    message: str


@dataclass(frozen=True)
class Policy:
    """What the repository allows: its own modules, its dependencies, tests, size limits."""

    own_modules: frozenset[str] = frozenset()
    dependencies: frozenset[str] = frozenset()
    allow_tests: bool = False
    max_changed_lines: int = 400
    max_files: int = 10


# Calls and modules a change may not add (the sandbox contains them; review should not need to).
DANGEROUS_CALLS = frozenset({"eval", "exec", "compile", "__import__", "os.system", "os.popen",
                             "os.exec", "os.spawn", "pickle.load", "pickle.loads",
                             "marshal.load", "marshal.loads", "shelve.open"})
DANGEROUS_MODULES = frozenset({"subprocess", "socket", "ctypes", "pickle", "marshal", "shelve",
                               "urllib.request", "http.client", "ftplib", "smtplib", "telnetlib",
                               "requests", "httpx", "aiohttp", "asyncio.subprocess"})
_PROTECTED = (
    re.compile(r"^\.github/"), re.compile(r"^\.gitlab-ci\.yml$"), re.compile(r"^\.circleci/"),
    re.compile(r"^\.ci/"), re.compile(r"(^|/)(tox|noxfile)\.(ini|py)$"),
    re.compile(r"(^|/)Jenkinsfile$"), re.compile(r"(^|/)\.pre-commit-config\.yaml$"),
    re.compile(r"(^|/)(setup\.py|setup\.cfg|pyproject\.toml|conftest\.py|MANIFEST\.in)$"),
    re.compile(r"(^|/)requirements[^/]*\.(txt|in)$"), re.compile(r"(^|/)constraints[^/]*\.txt$"),
    re.compile(r"(^|/)(Pipfile|Pipfile\.lock|poetry\.lock|pdm\.lock|uv\.lock)$"),
    re.compile(r"(^|/)(Dockerfile|Makefile|\.gitattributes|\.gitmodules)$"),
)
_TESTS = re.compile(r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.py$)")


def check_parses(change: FileChange) -> list[Finding]:
    """Report a Python file that no longer parses."""
    if change.modified is None or not change.path.endswith(".py"):
        return []
    try:
        ast.parse(change.modified, filename=change.path)
    except SyntaxError as exc:
        return [Finding(Check.PARSES, change.path, f"does not parse: line {exc.lineno}: {exc.msg}")]
    return []


def check_protected(change: FileChange, policy: Policy) -> list[Finding]:
    """Report a change to CI, manifests, lock files, setup.py, conftest.py or (maybe) tests."""
    path = change.path.removeprefix("./")
    if ".." in path.split("/") or path.startswith("/"):
        return [Finding(Check.PROTECTED_PATH, change.path, "path leaves the repository")]
    if any(p.search(path) for p in _PROTECTED):
        return [Finding(Check.PROTECTED_PATH, change.path, "touches a protected file")]
    if not policy.allow_tests and _TESTS.search(path):
        return [Finding(Check.PROTECTED_PATH, change.path, "touches tests; the goal does not")]
    return []


def _tree(source: str | None) -> ast.Module | None:
    if source is None:
        return None
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _calls(tree: ast.Module | None) -> dict[str, int]:
    found: dict[str, int] = {}
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name and any(name == d or name.startswith(d) for d in DANGEROUS_CALLS):
                found[name] = found.get(name, 0) + 1
    return found


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _imports(tree: ast.Module | None) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def check_calls_and_imports(change: FileChange, policy: Policy) -> list[Finding]:
    """Report added dangerous calls, dangerous modules, and imports from outside the project."""
    if not change.path.endswith(".py"):
        return []
    before, after = _tree(change.original), _tree(change.modified)
    findings = []
    old_calls = _calls(before)
    for name, count in _calls(after).items():
        if count > old_calls.get(name, 0):
            findings.append(Finding(Check.DANGEROUS_CALL, change.path, f"adds a call to {name}"))
    for name in sorted(_imports(after) - _imports(before)):
        top = name.split(".")[0]
        if any(name == m or name.startswith(m + ".") for m in DANGEROUS_MODULES):
            findings.append(Finding(Check.DANGEROUS_CALL, change.path, f"imports {name}"))
        elif (top not in sys.stdlib_module_names and top not in policy.own_modules
              and _normal(top) not in policy.dependencies):
            findings.append(Finding(Check.IMPORT, change.path,
                                    f"imports {top}, neither stdlib nor a declared dependency"))
    return _unique(findings)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def public_signatures(source: str | None) -> dict[str, str]:
    """Return the public top-level functions and classes (and methods) with their signatures."""
    tree = _tree(source)
    out: dict[str, str] = {}
    for node in tree.body if tree else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _public(node.name):
            out[node.name] = ast.unparse(node.args)
        elif isinstance(node, ast.ClassDef) and _public(node.name):
            out[node.name] = "class"
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                        _public(item.name) or item.name == "__init__"):
                    out[f"{node.name}.{item.name}"] = ast.unparse(item.args)
    return out


def _public(name: str) -> bool:
    return not name.startswith("_")


def check_public_api(change: FileChange, declares_api_change: bool) -> list[Finding]:
    """Report public names removed or signatures changed, unless the suggestion declares it."""
    if declares_api_change or not change.path.endswith(".py") or change.original is None:
        return []
    before, after = public_signatures(change.original), public_signatures(change.modified)
    findings = []
    for name, signature in before.items():
        if name not in after:
            findings.append(Finding(Check.PUBLIC_API, change.path, f"removes public {name}"))
        elif after[name] != signature:
            findings.append(Finding(Check.PUBLIC_API, change.path,
                                    f"changes the signature of {name}"))
    return findings


def check_size(suggestion: Suggestion, policy: Policy) -> list[Finding]:
    """Report a diff over the line or file limits."""
    changed = sum(1 for line in suggestion.diff.splitlines()
                  if line[:1] in "+-" and not line.startswith(("+++", "---")))
    findings = []
    if changed > policy.max_changed_lines:
        findings.append(Finding(Check.DIFF_SIZE, "", f"changes {changed} lines "
                                f"(limit {policy.max_changed_lines})"))
    if len(suggestion.files) > policy.max_files:
        findings.append(Finding(Check.DIFF_SIZE, "", f"touches {len(suggestion.files)} files "
                                f"(limit {policy.max_files})"))
    return findings


def check_bandit(change: FileChange) -> list[Finding]:
    """Report bandit issues of medium or high severity that the change adds."""
    if change.modified is None or not change.path.endswith(".py"):
        return []
    before = _bandit_issues(change.original) if change.original is not None else {}
    after = _bandit_issues(change.modified)
    return [Finding(Check.BANDIT, change.path, f"bandit {test_id}: {text}")
            for (test_id, text), count in after.items() if count > before.get((test_id, text), 0)]


def _bandit_issues(source: str) -> dict[tuple[str, str], int]:
    """Count medium+ bandit issues by (test id, text); line numbers move, so they are ignored."""
    from bandit.core import config, manager

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "code.py"
        path.write_text(source, encoding="utf-8")
        mgr = manager.BanditManager(config.BanditConfig(), "file", quiet=True)
        mgr.discover_files([str(path)])
        mgr.run_tests()
        counts: dict[tuple[str, str], int] = {}
        for issue in mgr.get_issue_list(sev_level="MEDIUM", conf_level="LOW"):
            key = (issue.test_id, issue.text)
            counts[key] = counts.get(key, 0) + 1
    return counts
