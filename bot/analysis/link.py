"""Linking one module's record against the table: calls, tests, harness edges, public API.

The result of a module is cached (see `bot.analysis.incremental`) and stays valid while the
module's record and the answers to the queries it asked are unchanged.
"""

from __future__ import annotations

import marshal
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from bot.analysis.table import (
    EMPTY,
    FIXTURE,
    SETUPS,
    SYMBOL,
    TESTCASE,
    Contribution,
    Resolver,
    contribution,
)

# How far (in calls) a test or benchmark is followed when marking functions as exercised.
REACH_DEPTH = 3
_TEST_FILE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test|conftest|tests?)\.py$")
_TEST_DIR = re.compile(r"(?:^|/)(?:tests?|testing)/")
_BENCH_FILE = re.compile(r"(?:^|/)(?:bench(?:mark)?s?|perf)(?:/|_[^/]*\.py$|\.py$)"
                         r"|_bench(?:mark)?\.py$")

# Positions of the parts of a linked module (each part marshalled on its own, so a run
# decodes only the parts it needs).
CONTRIB, SUMMARY, DETAILS, EDGES, TOTALS, QUERIES = range(6)
# Summary: (tests, benchmarks, hot-spot candidate rows, public API rows, lines, problem)
# Details: (positions of the test functions in the record, in_test, in_bench); the rest of
#          the module's functions, classes and calls is read from its record when asked for
# Edges:   (fixture edges, setup edges, call pairs): edges are (caller, call, target); call
#          edges are the record's calls with the resolver's answers, rebuilt when needed, and
#          the pairs (caller, target) of all edges feed what tests and benchmarks reach
# Totals:  (distinct callers by target, convention counters)
# Queries: the questions (call candidates and others) the module asked the resolver

Edge = tuple[str, tuple[str, str, int], str]


class Linked(NamedTuple):
    """A linked module: its cacheable blob, and the decoded parts the totals need."""

    blob: bytes
    summary: tuple[Any, ...]
    pairs: list[tuple[str, str]]  # (caller, target) of every edge, once
    fan_in: dict[str, int]
    conventions: dict[str, int]
    queries: list[str]


def reach_inputs(summary: tuple[Any, ...], pairs: Iterable[Sequence[str]],
                 ) -> tuple[set[tuple[str, str]], tuple[str, ...], tuple[str, ...]]:
    """Return what the tested and benchmarked sets depend on: call pairs, tests, benchmarks."""
    return {(caller, target) for caller, target in pairs}, summary[0], summary[1]


class FileEntry(NamedTuple):
    """One discovered file with its record blob (None when not parsed yet)."""

    path: str
    module: str
    is_package: bool
    digest: str
    key: str  # the cache key of the record: content, module name, package flag
    record: bytes | None


def is_test_path(path: str) -> bool:
    """Return whether a path is a test file by pytest's and unittest's usual layouts."""
    return bool(_TEST_FILE.search(path) or _TEST_DIR.search(path))


def is_benchmark_path(path: str) -> bool:
    """Return whether a path is a benchmark (bench/, benchmarks/, bench_*.py, *_bench.py)."""
    return bool(_BENCH_FILE.search(path))


def module_contribution(record: tuple[Any, ...], entry: FileEntry) -> Contribution:
    """Return what a module adds to the table (nothing for a file that did not parse)."""
    if record[0] != "ok":
        return EMPTY
    fixtures: list[str] = []
    if is_test_path(entry.path):
        fixtures = [f"{entry.module}.{fn[0]}" for fn in record[5]
                    if any(d.split("(")[0].endswith("fixture") for d in fn[11])]
    return contribution(record, entry.module, fixtures)


def function_row(fn: tuple[Any, ...], module: str, path: str, is_test: bool,
                 ) -> tuple[Any, ...]:
    """Return the FunctionInfo fields of a record's function (span and loops as tuples)."""
    (qual, name, cls, is_async, line, end, col, end_col, first, signature, params,
     decorators, doc, complexity, loops, _calls, annotated, _full) = fn
    return (f"{module}.{qual}", name, module, path,
            f"{module}.{cls}" if cls is not None else None, is_async,
            (line, end, col, end_col), first, signature, params, decorators, doc, complexity,
            loops, annotated, is_test)


def call_edges(record: tuple[Any, ...], module: str, memo: Mapping[str, str | None],
               ) -> Iterator[Edge]:
    """Yield a module's resolved calls as edges, from its record and the resolver's answers."""
    if record[0] != "ok":
        return
    for fn in record[5]:
        full = None
        for call in fn[15]:
            target = memo.get(call[1])
            if target is not None:
                if full is None:
                    full = f"{module}.{fn[0]}"
                yield full, call, target


def split(blob: bytes) -> tuple[bytes, ...]:
    """Return the marshalled parts of a linked module."""
    parts: tuple[bytes, ...] = marshal.loads(blob)
    return parts


def part(blob: bytes, index: int) -> Any:
    """Decode one part of a linked module."""
    return marshal.loads(split(blob)[index])


class _ModuleLinker:
    """Links one module; collects what it asked so a changed answer can find it again."""

    def __init__(self, entry: FileEntry, record: tuple[Any, ...], resolver: Resolver) -> None:
        self.entry = entry
        self.record = record
        self.resolver = resolver
        self.asked: dict[str, Any] = {}  # query -> answer (other than call candidates)
        self.candidates: set[str] = set()
        self.in_test = is_test_path(entry.path)
        self.in_bench = is_benchmark_path(entry.path)
        self.tests: list[str] = []
        self.benchmarks: list[str] = []
        self.calls: list[Edge] = []
        self.setups: list[tuple[str, str, int]] = []
        self.fixture_users: list[tuple[str, tuple[str, ...], int]] = []

    def ask(self, key: str) -> Any:
        asked = self.asked
        if key in asked:
            return asked[key]
        found = asked[key] = self.resolver.query(key)
        return found

    def link(self, contrib: Contribution) -> Linked:
        record, module, path = self.record, self.entry.module, self.entry.path
        tests = {i for i, fn in enumerate(record[5]) if self._function(fn)}
        edges = (self.calls, *self._harness_edges())
        hot = []
        if not (self.in_test or self.in_bench):
            hot = [function_row(fn, module, path, False) for i, fn in enumerate(record[5])
                   if fn[14] and i not in tests]
        summary = (tuple(self.tests), tuple(self.benchmarks), hot, self._public_rows(),
                   record[1], None)
        pairs = list({(caller, target) for group in edges for caller, _call, target in group})
        fan_in = dict(Counter(map(itemgetter(1), pairs)))
        queries = [*self.candidates, *self.asked]
        blob = _encode(contrib, summary, (sorted(tests), self.in_test, self.in_bench),
                       (*edges[1:], pairs), (fan_in, record[8]), queries)
        return Linked(blob, summary, pairs, fan_in, record[8], queries)

    def _function(self, fn: tuple[Any, ...]) -> bool:
        """Resolve a function's calls and classify it; return whether it is a test."""
        module = self.entry.module
        full = f"{module}.{fn[0]}"
        calls = fn[15]
        if calls:
            resolve, memo, edges = self.resolver.resolve, self.resolver.memo, self.calls
            for call in calls:
                candidate = call[1]
                target = memo[candidate] if candidate in memo else resolve(candidate)
                if target is not None:
                    edges.append((full, call, target))
            self.candidates.update([call[1] for call in calls])
        return self._classify(full, fn[1], f"{module}.{fn[2]}" if fn[2] is not None else None,
                              fn[10], fn[4])

    def _classify(self, full: str, name: str, class_qual: str | None, params: tuple[str, ...],
                  line: int) -> bool:
        """Record tests and benchmarks; return whether the function is a test."""
        is_test = False
        if name.startswith("test"):
            if class_qual is None:
                is_test = self.in_test
            else:
                cls_name = class_qual.rpartition(".")[2]
                is_test = self.ask(TESTCASE + class_qual) or (
                    self.in_test and cls_name.startswith("Test"))
                if is_test:
                    self.setups.append((full, class_qual, line))
        uses_benchmark = "benchmark" in params
        if self.in_bench or uses_benchmark:
            if not name.startswith("_") and "<locals>" not in full:
                self.benchmarks.append(full)
        elif is_test:
            self.tests.append(full)
        if is_test or uses_benchmark:
            self.fixture_users.append((full, params, line))
        return is_test

    def _harness_edges(self) -> tuple[list[Edge], list[Edge]]:
        """Link tests to the pytest fixtures they request and to their class's setUp."""
        fixtures: list[Edge] = []
        for test, params, line in self.fixture_users:
            for param in params:
                fixture = self.ask(FIXTURE + param)
                if fixture is not None:
                    fixtures.append((test, (f"<fixture {param}>", fixture, line), fixture))
        setups: list[Edge] = []
        for test, cls, line in self.setups:
            for expression, found in self.ask(SETUPS + cls):
                setups.append((test, (expression, found, line), found))
        return fixtures, setups

    def _public_rows(self) -> list[tuple[str, str, str, bool]]:
        """List what a public module offers: `__all__`, else its public definitions."""
        entry, record = self.entry, self.record
        if self.in_test or any(p.startswith("_") and p != "__init__.py"
                               for p in entry.path.split("/")):
            return []
        rows = []
        listed = record[7]
        for name in (listed if listed is not None else _public_names(record, entry)):
            qual = f"{entry.module}.{name}"
            kind, defined_at = self.ask(SYMBOL + qual)
            rows.append((qual, kind, defined_at, listed is not None))
        for cls in record[4]:
            qual = f"{entry.module}.{cls[0]}"
            if "." in cls[0] or not _offered(cls[0], listed):
                continue
            rows.extend((f"{qual}.{m}", "method", f"{qual}.{m}", False)
                        for m in cls[7] if not m.startswith("_"))
        return rows


def link_module(entry: FileEntry, record: tuple[Any, ...], contrib: Contribution,
                resolver: Resolver) -> Linked:
    """Link one module's record."""
    if record[0] != "ok":
        _, kind, message, line = record
        summary: tuple[Any, ...] = ((), (), [], [], 0, (kind, message, line))
        return Linked(_encode(EMPTY, summary, None, ([], [], []), ({}, {}), []), summary, [],
                      {}, {}, [])
    return _ModuleLinker(entry, record, resolver).link(contrib)


def _encode(*parts: Any) -> bytes:
    return marshal.dumps(tuple(marshal.dumps(p) for p in parts))


def reach(sources: Iterable[str], callees: dict[str, list[str]]) -> set[str]:
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


def _offered(name: str, listed: list[str] | None) -> bool:
    return name in listed if listed is not None else not name.startswith("_")


def _public_names(record: tuple[Any, ...], entry: FileEntry) -> list[str]:
    """Public names of a module without `__all__`: its definitions, and re-exports in __init__."""
    bindings: dict[str, str] = record[6]
    own = f"{entry.module}."
    return [name for name, target in bindings.items() if not name.startswith("_")
            and (target == own + name or entry.is_package)]
