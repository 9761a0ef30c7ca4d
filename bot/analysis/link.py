"""Linking per-file records into one index: name resolution, call graph, tests, public API."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from bot.analysis.conventions import detect_conventions
from bot.analysis.model import (
    ClassInfo,
    CodebaseIndex,
    FunctionInfo,
    Import,
    IndexStats,
    Loop,
    ModuleInfo,
    Problem,
    ProblemKind,
    PublicSymbol,
    Span,
)

# How far (in calls) a test or benchmark is followed when marking functions as exercised.
REACH_DEPTH = 3
_MAX_ALIAS_HOPS = 6
# Look-ups one call may cost: re-exports and star imports can chain without end.
_RESOLVE_BUDGET = 64
_TEST_FILE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test|conftest|tests?)\.py$")
_TEST_DIR = re.compile(r"(?:^|/)(?:tests?|testing)/")
_BENCH_FILE = re.compile(r"(?:^|/)(?:bench(?:mark)?s?|perf)(?:/|_[^/]*\.py$|\.py$)"
                         r"|_bench(?:mark)?\.py$")
_TESTCASE_BASES = ("TestCase", "IsolatedAsyncioTestCase")
_SETUP_METHODS = ("setUp", "asyncSetUp", "setUpClass", "setup_method", "setup_class")


class FileEntry(NamedTuple):
    """One discovered file with its cached or fresh record (None when not parsed yet)."""

    path: str
    module: str
    is_package: bool
    digest: str
    record: Any


def is_test_path(path: str) -> bool:
    """Return whether a path is a test file by pytest's and unittest's usual layouts."""
    return bool(_TEST_FILE.search(path) or _TEST_DIR.search(path))


def is_benchmark_path(path: str) -> bool:
    """Return whether a path is a benchmark (bench/, benchmarks/, bench_*.py, *_bench.py)."""
    return bool(_BENCH_FILE.search(path))


def link_index(root: Path, entries: list[FileEntry], problems: list[Problem], *, parsed: int,
               started: float, clock: Callable[[], float]) -> CodebaseIndex:
    """Turn the records of every file into the index."""
    problems = list(problems)
    good: list[FileEntry] = []
    for entry in entries:
        if entry.record[0] == "ok":
            good.append(entry)
        else:
            _, kind, message, line = entry.record
            problems.append(Problem(entry.path, ProblemKind(kind), message, line))
    names = _Names(good)
    linker = _Linker(names)
    modules = {e.module: linker.module(e) for e in good}
    linker.add_harness_edges()
    tested = _reach(linker.tests, linker.callees)
    benchmarked = _reach(linker.benchmarks, linker.callees)
    conventions = detect_conventions(root, [e.record[8] for e in good])
    lines = sum(m.lines for m in modules.values())
    stats = IndexStats(len(entries), parsed, len(entries) - parsed, lines, 0.0)
    index = CodebaseIndex(
        root=root, modules=modules, classes=linker.classes, functions=linker.functions,
        module_graph=_module_graph(good, names.modules), call_records=linker.call_records,
        resolution=names.memo, caller_records=linker.callers,
        tests=tuple(linker.tests), benchmarks=tuple(linker.benchmarks),
        tested=frozenset(tested), benchmarked=frozenset(benchmarked),
        public_api=_public_api(good, names), conventions=conventions,
        problems=tuple(sorted(problems, key=lambda p: (p.path, p.line))), stats=stats)
    object.__setattr__(index, "stats", IndexStats(
        stats.files, stats.parsed, stats.cached, stats.lines, round(clock() - started, 4)))
    return index


class _Names:
    """What every module defines and imports: the table name resolution works on."""

    def __init__(self, entries: list[FileEntry]) -> None:
        self.modules = {e.module for e in entries}
        self.functions: set[str] = set()
        self.classes: dict[str, tuple[str, ...]] = {}  # qualname -> resolved bases
        self.aliases: dict[str, str] = {}  # "pkg.mod.bound" -> import target
        self.stars: dict[str, tuple[str, ...]] = {}
        self.method_owners: dict[str, list[str]] = {}  # method name -> qualnames
        for e in entries:
            record, module = e.record, e.module
            for fn in record[5]:
                qual = f"{module}.{fn[0]}"
                self.functions.add(qual)
                if fn[2] is not None:
                    self.method_owners.setdefault(fn[1], []).append(qual)
            for cls in record[4]:
                self.classes[f"{module}.{cls[0]}"] = cls[6]
            for target, bound, _line, _from in record[3]:
                if bound != "*":
                    self.aliases.setdefault(f"{module}.{bound}", target)
            if record[9]:
                self.stars[module] = record[9]
        self.memo: dict[str, str | None] = {}
        self.partial: dict[str, str | None] = {}
        self.budget = _RESOLVE_BUDGET
        self.methods_memo: dict[tuple[str, str], str | None] = {}
        self.class_alias_memo: dict[str, str | None] = {}
        self.testcase_memo: dict[str, bool] = {}

    def resolve(self, candidate: str) -> str | None:
        """Resolve a file-local candidate ("pkg.mod.f", ".method") to a project function."""
        try:
            return self.memo[candidate]
        except KeyError:
            pass
        if candidate.startswith("."):
            owners = self.method_owners.get(candidate[1:], ())
            # A bare `x.name()` is only attributed when one project method has that name.
            found = owners[0] if len(owners) == 1 else None
        else:
            self.budget = _RESOLVE_BUDGET
            found = self._resolve(candidate, _MAX_ALIAS_HOPS)
        self.memo[candidate] = found
        return found

    def _resolve(self, name: str, hops: int) -> str | None:
        # Memoised per name (a name in progress counts as unresolved, which cuts cycles):
        # star imports would otherwise make the alias search exponential.
        if name in self.partial:
            return self.partial[name]
        self.partial[name] = None
        found = self._resolve_uncached(name, hops)
        self.partial[name] = found
        return found

    def _resolve_uncached(self, name: str, hops: int) -> str | None:
        self.budget -= 1
        if self.budget < 0:
            return None
        if name in self.functions:
            return name
        if name in self.classes:
            return self.method(name, "__init__")
        owner, _, attr = name.rpartition(".")
        if owner in self.classes:
            return self.method(owner, attr)
        if hops == 0:
            return None
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            rest = "".join("." + p for p in parts[cut:])
            target = self.aliases.get(prefix)
            if target is not None and target != prefix:
                return self._resolve(target + rest, hops - 1)
            for source in self.stars.get(prefix, ()) if rest else ():
                found = self._resolve(source + rest, hops - 1)
                if found is not None:
                    return found
        return None

    def locate(self, name: str) -> str:
        """Follow import aliases from a name to where it is defined (as far as known)."""
        for _ in range(_MAX_ALIAS_HOPS):
            if name in self.functions or name in self.classes:
                return name
            target = self.aliases.get(name)
            if target is None or target == name:
                return name
            name = target
        return name

    def method(self, cls: str, name: str, depth: int = 0) -> str | None:
        """Find a method on a project class or its project bases (shallow MRO)."""
        key = (cls, name)
        if key in self.methods_memo:
            return self.methods_memo[key]
        self.methods_memo[key] = None  # a cycle of bases ends here
        found = self._method(cls, name, depth)
        self.methods_memo[key] = found
        return found

    def _method(self, cls: str, name: str, depth: int) -> str | None:
        qual = f"{cls}.{name}"
        if qual in self.functions:
            return qual
        if depth > 5:
            return None
        for base in self.classes.get(cls, ()):
            resolved = base if base in self.classes else self._class_alias(base)
            if resolved is not None:
                found = self.method(resolved, name, depth + 1)
                if found is not None:
                    return found
        return None

    def _class_alias(self, name: str) -> str | None:
        if name not in self.class_alias_memo:
            self.class_alias_memo[name] = self._class_alias_uncached(name)
        return self.class_alias_memo[name]

    def _class_alias_uncached(self, name: str) -> str | None:
        for _ in range(_MAX_ALIAS_HOPS):
            owner, _, attr = name.rpartition(".")
            target = self.aliases.get(name) or (
                f"{self.aliases[owner]}.{attr}" if owner in self.aliases else None)
            if target is None or target == name:
                return None
            if target in self.classes:
                return target
            name = target
        return None

    def is_testcase(self, cls: str, depth: int = 0) -> bool:
        """Return whether a class derives from a unittest-style TestCase."""
        if cls not in self.testcase_memo:
            self.testcase_memo[cls] = False  # a cycle of bases ends here
            self.testcase_memo[cls] = self._is_testcase(cls, depth)
        return self.testcase_memo[cls]

    def _is_testcase(self, cls: str, depth: int) -> bool:
        for base in self.classes.get(cls, ()):
            if base.rpartition(".")[2].endswith(_TESTCASE_BASES):
                return True
            resolved = base if base in self.classes else self._class_alias(base)
            if resolved is not None and depth < 5 and self.is_testcase(resolved, depth + 1):
                return True
        return False


class _Linker:
    """Builds the model objects and the call graph from the records."""

    def __init__(self, names: _Names) -> None:
        self.names = names
        self.functions: dict[str, FunctionInfo] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.callers: dict[str, list[tuple[str, tuple[str, str, int]]]] = {}
        self.call_records: dict[str, tuple[tuple[str, str, int], ...]] = {}
        self.callees: dict[str, list[str]] = {}
        self.tests: list[str] = []
        self.benchmarks: list[str] = []
        self.fixtures: dict[str, str] = {}  # fixture name -> function (pytest)
        self.fixture_users: list[tuple[str, tuple[str, ...], int]] = []
        self.setups: list[tuple[str, str, int]] = []  # test method, class, line

    def module(self, entry: FileEntry) -> ModuleInfo:
        """Build one module's records into the model."""
        record, module, path = entry.record, entry.module, entry.path
        is_test, is_bench = is_test_path(path), is_benchmark_path(path)
        class_quals = []
        for qual, name, line, end, decorators, doc, bases, methods in record[4]:
            full = f"{module}.{qual}"
            class_quals.append(full)
            self.classes[full] = ClassInfo(full, name, module, path, Span(line, end),
                                           decorators, doc, bases, methods)
        function_quals = [self._function(fn, module, path, is_test, is_bench)
                          for fn in record[5]]
        imports = tuple(Import(t, b, line, f) for t, b, line, f in record[3])
        all_names = tuple(record[7]) if record[7] is not None else None
        return ModuleInfo(module, path, entry.is_package, is_test, is_bench, record[1],
                          record[2], imports, all_names, tuple(class_quals),
                          tuple(function_quals), entry.digest)

    def _function(self, fn: tuple[Any, ...], module: str, path: str, in_test_file: bool,
                  in_bench_file: bool) -> str:
        (qual, name, cls, is_async, line, end, col, end_col, first, signature, params,
         decorators, doc, complexity, loops, calls, annotated, _full) = fn
        full = f"{module}.{qual}"
        class_qual = f"{module}.{cls}" if cls is not None else None
        resolve, memo, callers = self.names.resolve, self.names.memo, self.callers
        targets = []
        for call in calls:
            candidate = call[1]
            target = memo[candidate] if candidate in memo else resolve(candidate)
            if target is not None:
                targets.append(target)
                if target in callers:
                    callers[target].append((full, call))
                else:
                    callers[target] = [(full, call)]
        self.call_records[full] = calls
        if targets:
            self.callees[full] = targets
        is_test = self._classify(full, name, class_qual, params, decorators, line,
                                 in_test_file, in_bench_file)
        self.functions[full] = FunctionInfo(
            full, name, module, path, class_qual, is_async, Span(line, end, col, end_col),
            first, signature, params, decorators, doc, complexity,
            tuple([Loop(kind, Span(a, b), depth) for kind, a, b, depth in loops]) if loops
            else (), annotated, is_test)
        return full

    def _classify(self, full: str, name: str, class_qual: str | None, params: tuple[str, ...],
                  decorators: tuple[str, ...], line: int, in_test_file: bool,
                  in_bench_file: bool) -> bool:
        """Record tests, benchmarks and pytest fixtures; return whether it is a test."""
        if in_test_file and any(d.split("(")[0].endswith("fixture") for d in decorators):
            self.fixtures.setdefault(name, full)
        is_test = False
        if name.startswith("test"):
            if class_qual is None:
                is_test = in_test_file
            else:
                cls_name = class_qual.rpartition(".")[2]
                is_test = self.names.is_testcase(class_qual) or (
                    in_test_file and cls_name.startswith("Test"))
                if is_test:
                    self.setups.append((full, class_qual, line))
        uses_benchmark = "benchmark" in params
        if in_bench_file or uses_benchmark:
            if not name.startswith("_") and "<locals>" not in full:
                self.benchmarks.append(full)
        elif is_test:
            self.tests.append(full)
        if is_test or uses_benchmark:
            self.fixture_users.append((full, params, line))
        return is_test

    def add_harness_edges(self) -> None:
        """Link tests to the pytest fixtures they request and to their class's setUp."""
        for test, params, line in self.fixture_users:
            for param in params:
                fixture = self.fixtures.get(param)
                if fixture is not None:
                    self._edge(test, fixture, f"<fixture {param}>", line)
        per_class: dict[str, list[tuple[str, str]]] = {}
        for test, cls, line in self.setups:
            if cls not in per_class:
                per_class[cls] = [(f"self.{name}", found) for name in _SETUP_METHODS
                                  if (found := self.names.method(cls, name)) is not None]
            for expression, found in per_class[cls]:
                self._edge(test, found, expression, line)

    def _edge(self, caller: str, target: str, expression: str, line: int) -> None:
        self.callers.setdefault(target, []).append((caller, (expression, target, line)))
        self.callees.setdefault(caller, []).append(target)

def _reach(sources: Iterable[str], callees: dict[str, list[str]]) -> set[str]:
    """Return the functions within REACH_DEPTH calls of any source (breadth first)."""
    seen: set[str] = set()
    queue = deque((s, 0) for s in sources)
    while queue:
        name, depth = queue.popleft()
        if depth == REACH_DEPTH:
            continue
        for target in callees.get(name, ()):
            if target not in seen:
                seen.add(target)
                queue.append((target, depth + 1))
    return seen


def _module_graph(entries: list[FileEntry], modules: set[str]) -> dict[str, tuple[str, ...]]:
    """Map each module to the project modules it imports."""
    graph: dict[str, tuple[str, ...]] = {}
    for e in entries:
        found: set[str] = set()
        for target, _bound, _line, _from in e.record[3]:
            name = target
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != e.module:
                found.add(name)
        graph[e.module] = tuple(sorted(found))
    return graph


def _public_api(entries: list[FileEntry], names: _Names) -> tuple[PublicSymbol, ...]:
    """List what each public module offers: `__all__`, else its public definitions."""
    symbols: list[PublicSymbol] = []
    for e in entries:
        if is_test_path(e.path) or any(p.startswith("_") and p != "__init__.py"
                                       for p in e.path.split("/")):
            continue
        record, module = e.record, e.module
        listed = record[7]
        for name in (listed if listed is not None else _public_names(e)):
            qual = f"{module}.{name}"
            symbols.append(_symbol(qual, names, listed is not None))
        for cls in record[4]:
            qual = f"{module}.{cls[0]}"
            if "." in cls[0] or not _offered(cls[0], listed):
                continue
            symbols.extend(PublicSymbol(f"{qual}.{m}", "method", f"{qual}.{m}", False)
                           for m in cls[7] if not m.startswith("_"))
    return tuple(sorted(symbols, key=lambda s: s.qualname))


def _offered(name: str, listed: list[str] | None) -> bool:
    return name in listed if listed is not None else not name.startswith("_")


def _public_names(entry: FileEntry) -> list[str]:
    """Public names of a module without `__all__`: its definitions, and re-exports in __init__."""
    bindings: dict[str, str] = entry.record[6]
    own = f"{entry.module}."
    return [name for name, target in bindings.items() if not name.startswith("_")
            and (target == own + name or entry.is_package)]


def _symbol(qual: str, names: _Names, listed: bool) -> PublicSymbol:
    if qual in names.functions:
        return PublicSymbol(qual, "function", qual, listed)
    if qual in names.classes:
        return PublicSymbol(qual, "class", qual, listed)
    target = names.aliases.get(qual)
    if target is not None:
        return PublicSymbol(qual, "reexport", names.locate(target), listed)
    return PublicSymbol(qual, "variable", qual, listed)
