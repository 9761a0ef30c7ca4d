"""The analysis model: immutable records of modules, classes, functions, calls and tests.

The records made by the hundred thousand (spans, loops, call sites, functions, classes) are
`NamedTuple`s: a frozen dataclass costs several microseconds to build, a named tuple is built
in C. The rest are frozen dataclasses.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class ProblemKind(enum.StrEnum):
    """Why a file was skipped (or only partly read)."""

    SYNTAX_ERROR = "syntax_error"
    PYTHON2 = "python2"
    ENCODING = "encoding"
    BINARY = "binary"
    TOO_LARGE = "too_large"
    TOO_COMPLEX = "too_complex"
    SYMLINK = "symlink"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class Problem:
    """A file the index skipped, and why."""

    path: str
    kind: ProblemKind
    message: str
    line: int = 0


class Span(NamedTuple):
    """Lines 1-based and inclusive; columns 0-based UTF-8 byte offsets as in `ast`."""

    start_line: int
    end_line: int
    start_col: int = 0
    end_col: int = 0

    @property
    def lines(self) -> int:
        """Return how many lines the span covers."""
        return self.end_line - self.start_line + 1


class Loop(NamedTuple):
    """A loop inside a function; depth 1 is the outermost loop."""

    kind: str  # "for", "async for", "while" or "comprehension"
    span: Span
    depth: int


class CallSite(NamedTuple):
    """One call in a function: the callee as written and, when known, the project function."""

    caller: str
    expression: str
    line: int
    target: str | None


@dataclass(frozen=True, slots=True)
class Import:
    """One name an import statement binds at module level."""

    target: str  # absolute: "os.path", "pkg.mod.name"
    bound_name: str  # "*" for a star import
    line: int
    is_from: bool


class FunctionInfo(NamedTuple):
    """A function or method, located and measured."""

    qualname: str  # "pkg.mod.Class.method", nested: "pkg.mod.outer.<locals>.inner"
    name: str
    module: str
    path: str  # relative to the root, POSIX separators
    class_qualname: str | None  # "pkg.mod.Class" for a method
    is_async: bool
    span: Span  # the `def` through the end of the body
    first_line: int  # the first decorator's line, else span.start_line
    signature: str  # "(self, x: int = 1, *args, **kw) -> str" as written
    parameters: tuple[str, ...]
    decorators: tuple[str, ...]  # as written, without "@"
    docstring: str | None
    complexity: int  # McCabe: 1 + branches
    loops: tuple[Loop, ...]
    has_type_hints: bool
    is_test: bool

    @property
    def max_loop_depth(self) -> int:
        """Return the deepest loop nesting (0 without loops)."""
        return max((loop.depth for loop in self.loops), default=0)

    @property
    def is_public(self) -> bool:
        """Return whether no part of the name after the module starts with an underscore."""
        local = self.qualname[len(self.module) + 1:]
        return not any(part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
                       for part in local.split(".")) and "<locals>" not in local


class ClassInfo(NamedTuple):
    """A class with its resolved bases and method names."""

    qualname: str
    name: str
    module: str
    path: str
    span: Span
    decorators: tuple[str, ...]
    docstring: str | None
    bases: tuple[str, ...]  # resolved where possible ("unittest.TestCase"), else as written
    methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """One parsed file."""

    name: str  # dotted module name
    path: str
    is_package: bool  # an __init__.py
    is_test: bool
    is_benchmark: bool
    lines: int
    docstring: str | None
    imports: tuple[Import, ...]
    all_names: tuple[str, ...] | None  # a literal __all__, else None
    classes: tuple[str, ...]  # qualnames
    functions: tuple[str, ...]  # qualnames
    content_hash: str


@dataclass(frozen=True, slots=True)
class PublicSymbol:
    """A name the package offers its users."""

    qualname: str  # where users reach it: "pkg.name"
    kind: str  # "function", "class", "method", "variable" or "reexport"
    defined_at: str  # where it is defined (same as qualname unless re-exported)
    listed_in_all: bool


@dataclass(frozen=True, slots=True)
class TestLink:
    """A test that exercises a function, directly or through other project functions."""

    test: str
    distance: int  # 1: the test calls the function itself


@dataclass(frozen=True, slots=True)
class HotSpot:
    """A function worth optimising, with the factors of its score."""

    qualname: str
    path: str
    span: Span
    score: float
    loop_depth: int
    lines: int
    fan_in: int
    complexity: int
    tested: bool
    benchmarked: bool


@dataclass(frozen=True, slots=True)
class Convention:
    """One detected convention: the value, how sure we are (0..1), and from what."""

    value: str
    confidence: float
    source: str  # "measured" or the config file it was read from
    evidence: Mapping[str, int | float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Conventions:
    """The repository's style, as the generator should follow it."""

    function_naming: Convention
    variable_naming: Convention
    class_naming: Convention
    error_handling: Convention
    concurrency: Convention
    quote_style: Convention
    line_length: Convention
    docstring_style: Convention
    type_hints: Convention

    def as_dict(self) -> dict[str, Convention]:
        """Return the conventions by name."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class IndexStats:
    """How the index was built."""

    files: int
    parsed: int  # parsed in this run
    cached: int  # taken from the cache
    lines: int
    seconds: float
    relinked: int = 0  # modules linked in this run (the rest reused from the cache)


@dataclass(frozen=True)
class CodebaseIndex:
    """Everything the analysis knows about one codebase; look-ups by qualified name.

    The mappings are read-only views built from the linked modules on first access (see
    `bot.analysis.views`): a large codebase has hundreds of thousands of call sites and most
    are never looked at. Iterating a mapping builds all of it.
    """

    root: Path
    modules: Mapping[str, ModuleInfo]
    classes: Mapping[str, ClassInfo]
    functions: Mapping[str, FunctionInfo]
    module_graph: Mapping[str, tuple[str, ...]]  # module -> project modules it imports
    call_records: Mapping[str, tuple[tuple[str, str, int], ...]]  # function -> raw calls
    resolution: Mapping[str, str | None]  # raw call candidate -> project function
    caller_records: Mapping[str, list[tuple[str, tuple[str, str, int]]]]  # target -> calls
    tests: tuple[str, ...]  # qualnames of test functions
    benchmarks: tuple[str, ...]  # qualnames of benchmark functions
    tested: frozenset[str]  # functions some test reaches through the call graph
    benchmarked: frozenset[str]
    public_api: tuple[PublicSymbol, ...]
    conventions: Conventions
    problems: tuple[Problem, ...]
    stats: IndexStats
    fan_ins: Mapping[str, int] = field(default_factory=dict)  # function -> distinct callers
    # Non-test functions with loops outside test and benchmark files, in path order.
    hot_spot_candidates: tuple[FunctionInfo, ...] = ()

    def function(self, qualname: str) -> FunctionInfo | None:
        """Return the function with this qualified name, if any."""
        return self.functions.get(qualname)

    def calls_from(self, qualname: str) -> tuple[CallSite, ...]:
        """Return the calls a function makes, in line order, resolved where possible."""
        resolution = self.resolution
        return tuple(CallSite(qualname, expression, line, resolution.get(candidate))
                     for expression, candidate, line in self.call_records.get(qualname, ()))

    def callers_of(self, qualname: str) -> tuple[CallSite, ...]:
        """Return the call sites in the project that resolve to this function."""
        return tuple(CallSite(caller, call[0], call[2], qualname)
                     for caller, call in self.caller_records.get(qualname, ()))

    def fan_in(self, qualname: str) -> int:
        """Return how many distinct project functions call this one."""
        return self.fan_ins.get(qualname, 0)

    def tests_for(self, qualname: str, max_distance: int = 3) -> tuple[TestLink, ...]:
        """Return the tests that reach the function within `max_distance` calls, nearest first."""
        test_set = set(self.tests)
        found: dict[str, int] = {}
        frontier = {qualname}
        seen = {qualname}
        for distance in range(1, max_distance + 1):
            nxt: set[str] = set()
            for name in frontier:
                for caller, _call in self.caller_records.get(name, ()):
                    if caller in test_set:
                        found.setdefault(caller, distance)
                    elif caller not in seen:
                        seen.add(caller)
                        nxt.add(caller)
            frontier = nxt
        return tuple(TestLink(t, d) for t, d in sorted(found.items(), key=lambda i: (i[1], i[0])))

    def module_of(self, qualname: str) -> ModuleInfo | None:
        """Return the module defining a function or class."""
        info = self.functions.get(qualname) or self.classes.get(qualname)
        return self.modules.get(info.module) if info is not None else None

    def functions_in(self, path: str) -> tuple[FunctionInfo, ...]:
        """Return the functions defined in one file, in source order."""
        module = next((m for m in self.modules.values() if m.path == path), None)
        if module is None:
            return ()
        found = [f for q in module.functions if (f := self.functions.get(q)) is not None
                 and f.path == path]
        return tuple(sorted(found, key=lambda f: f.span.start_line))
