"""The table of names a project defines, and the queries answered from it with their inputs.

Every answer (where a call goes, whether a class is a TestCase, which fixture a name means,
what a public name is) is a pure function of the query and the table, and records the names it
looked up. When a push changes the table, only the answers that looked up a changed name are
computed again, and only the modules that asked a question whose answer changed are linked again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# How far (in alias hops) a name is followed to its definition.
MAX_ALIAS_HOPS = 6
# Look-ups one call may cost: re-exports and star imports can chain without end.
_RESOLVE_BUDGET = 64
_TESTCASE_BASES = ("TestCase", "IsolatedAsyncioTestCase")
SETUP_METHODS = ("setUp", "asyncSetUp", "setUpClass", "setup_method", "setup_class")
# Queries other than call candidates start with NUL, which no candidate does.
TESTCASE = "\0t"
SETUPS = "\0s"
FIXTURE = "\0f"
SYMBOL = "\0p"
# Keys of changed names: dotted names as they are; method names and fixtures prefixed.
_OWNER_KEY = "."
_FIXTURE_KEY = "@"

# What one module adds to the table: (function qualnames, class qualname -> bases,
# bound name -> import target, star-imported modules, method name -> qualnames,
# fixture name -> function, whether the module parsed); every name is prefixed by the
# module's, so modules never clash.
Contribution = tuple[Any, ...]
EMPTY: Contribution = ((), {}, {}, (), {}, {}, False)


def contribution(record: tuple[Any, ...], module: str, fixtures: Iterable[str]) -> Contribution:
    """Return what one module adds to the table."""
    prefix = module + "."
    functions = tuple([prefix + fn[0] for fn in record[5]])
    owners: dict[str, tuple[str, ...]] = {}
    for fn, qual in zip(record[5], functions, strict=True):
        if fn[2] is not None:
            owners[fn[1]] = (*owners.get(fn[1], ()), qual)
    classes = {prefix + cls[0]: tuple(cls[6]) for cls in record[4]}
    # The first import that binds a name wins: later ones are usually fallbacks.
    aliases = {prefix + bound: target for target, bound, _line, _from in reversed(record[3])
               if bound != "*"}
    found: dict[str, str] = {}
    for qual in fixtures:
        found.setdefault(qual.rpartition(".")[2], qual)
    return functions, classes, aliases, tuple(record[9] or ()), owners, found, True


def changed_keys(module: str, old: Contribution, new: Contribution) -> set[str]:
    """Return the names whose facts differ between two contributions of one module."""
    if old == new:
        return set()
    keys = set(old[0]).symmetric_difference(new[0])
    for position in (1, 2):
        before, after = old[position], new[position]
        keys.update(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if old[3] != new[3] or old[6] != new[6]:
        keys.add(module)
    for position, mark in ((4, _OWNER_KEY), (5, _FIXTURE_KEY)):
        before, after = old[position], new[position]
        keys.update(mark + k for k in before.keys() | after.keys()
                    if before.get(k) != after.get(k))
    return keys


class Table:
    """The merged contributions of every module, in path order."""

    def __init__(self) -> None:
        self.functions: set[str] = set()
        self.classes: dict[str, tuple[str, ...]] = {}  # qualname -> bases as resolved in file
        self.aliases: dict[str, str] = {}  # "pkg.mod.bound" -> import target
        self.stars: dict[str, tuple[str, ...]] = {}
        self.owners: dict[str, list[str]] = {}  # method name -> qualnames
        self.fixtures: dict[str, str] = {}  # fixture name -> function (first file wins)
        self.modules: set[str] = set()

    def add(self, module: str, contrib: Contribution) -> None:
        """Merge one module's contribution (modules are added in path order)."""
        functions, classes, aliases, stars, owners, fixtures, parsed = contrib
        if parsed:
            self.modules.add(module)
        self.functions.update(functions)
        self.classes.update(classes)
        self.aliases.update(aliases)
        if stars:
            self.stars[module] = stars
        for name, quals in owners.items():
            if name in self.owners:
                self.owners[name].extend(quals)
            else:
                self.owners[name] = list(quals)
        for name, qual in fixtures.items():
            self.fixtures.setdefault(name, qual)

    def dump(self) -> tuple[Any, ...]:
        """Return the table as plain data for the cache."""
        return (list(self.functions), self.classes, self.aliases, self.stars, self.owners,
                self.fixtures, list(self.modules))

    @classmethod
    def load(cls, data: tuple[Any, ...]) -> Table:
        """Rebuild a table from `dump` output."""
        table = cls()
        (functions, table.classes, table.aliases, table.stars, table.owners, table.fixtures,
         modules) = data
        table.functions = set(functions)
        table.modules = set(modules)
        return table


class Resolver:
    """Answers queries from the table, remembering each answer and the names it looked up."""

    def __init__(self, table: Callable[[], Table], memo: dict[str, str | None],
                 answers: dict[str, Any], deps: dict[str, tuple[str, ...]]) -> None:
        self._table_factory = table
        self._table: Table | None = None
        self.memo = memo  # call candidate -> project function
        self.answers = answers  # other queries -> answer
        self.deps = deps  # query -> names looked up, for the answers computed in this run
        self.forgotten: set[str] = set()
        self._seen: set[str] = set()
        self._partial: dict[str, str | None] = {}
        self._budget = _RESOLVE_BUDGET
        self._ancestor_memo: dict[tuple[str, int], tuple[tuple[str, ...], set[str]]] = {}
        self._alias_memo: dict[str, tuple[str | None, set[str]]] = {}

    @property
    def table(self) -> Table:
        """Return the table, built on first use (a run that asks nothing new never needs it)."""
        return self.build_table()

    def build_table(self) -> Table:
        """Return the table, building it now if need be (before a fork: one for both)."""
        if self._table is None:
            self._table = self._table_factory()
        return self._table

    def resolve(self, candidate: str) -> str | None:
        """Resolve a file-local call candidate ("pkg.mod.f", ".method") to a project function."""
        memo = self.memo
        if candidate in memo:
            return memo[candidate]
        self._seen = set()
        found = self._answer_candidate(candidate)
        memo[candidate] = found
        self.deps[candidate] = tuple(self._seen)
        return found

    def query(self, key: str) -> Any:
        """Answer a query other than a call (TESTCASE/SETUPS/FIXTURE/SYMBOL + its subject)."""
        answers = self.answers
        if key in answers:
            return answers[key]
        self._seen = set()
        found = self.compute(key)
        answers[key] = found
        self.deps[key] = tuple(self._seen)
        return found

    def forget(self, keys: Iterable[str]) -> None:
        """Drop remembered answers (their inputs changed)."""
        for key in keys:
            self.memo.pop(key, None)
            self.answers.pop(key, None)
            self.deps.pop(key, None)
            self.forgotten.add(key)

    def compute(self, key: str) -> Any:
        """Compute one answer afresh (no memo), recording the names looked up."""
        kind, subject = key[:2], key[2:]
        if kind == TESTCASE:
            return self._is_testcase(subject)
        if kind == SETUPS:
            return tuple((f"self.{name}", found) for name in SETUP_METHODS
                         if (found := self._method(subject, name)) is not None)
        if kind == FIXTURE:
            self._seen.add(_FIXTURE_KEY + subject)
            return self.table.fixtures.get(subject)
        if kind == SYMBOL:
            return self._symbol(subject)
        return self._answer_candidate(key)

    def _answer_candidate(self, candidate: str) -> str | None:
        if candidate.startswith("."):
            self._seen.add(candidate)
            owners = self.table.owners.get(candidate[1:], ())
            # A bare `x.name()` is only attributed when one project method has that name.
            return owners[0] if len(owners) == 1 else None
        self._budget = _RESOLVE_BUDGET
        self._partial = {}
        return self._resolve(candidate, MAX_ALIAS_HOPS)

    def _resolve(self, name: str, hops: int) -> str | None:
        # Memoised per name within one candidate (a name in progress counts as unresolved,
        # which cuts cycles): star imports would otherwise make the search exponential.
        partial = self._partial
        if name in partial:
            return partial[name]
        partial[name] = None
        found = self._resolve_uncached(name, hops)
        partial[name] = found
        return found

    def _resolve_uncached(self, name: str, hops: int) -> str | None:
        self._budget -= 1
        if self._budget < 0:
            return None
        table, seen = self.table, self._seen
        seen.add(name)
        if name in table.functions:
            return name
        if name in table.classes:
            return self._method(name, "__init__")
        owner, _, attr = name.rpartition(".")
        seen.add(owner)
        if owner in table.classes:
            return self._method(owner, attr)
        if hops == 0:
            return None
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            rest = "".join("." + p for p in parts[cut:])
            seen.add(prefix)
            target = table.aliases.get(prefix)
            if target is not None and target != prefix:
                return self._resolve(target + rest, hops - 1)
            for source in table.stars.get(prefix, ()) if rest else ():
                found = self._resolve(source + rest, hops - 1)
                if found is not None:
                    return found
            if prefix in table.modules:
                # The longest module prefix owns the rest (as attribute lookup would): going
                # shorter would follow the parent package's star imports in circles.
                return None
        return None

    def _method(self, cls: str, name: str) -> str | None:
        """Find a method on a project class or its project bases (depth-first, shallow)."""
        functions, seen = self.table.functions, self._seen
        for ancestor in self._ancestors(cls, 6):
            qual = f"{ancestor}.{name}"
            seen.add(qual)
            if qual in functions:
                return qual
        return None

    def _is_testcase(self, cls: str) -> bool:
        """Return whether a class derives from a unittest-style TestCase."""
        classes = self.table.classes
        return any(base.rpartition(".")[2].endswith(_TESTCASE_BASES)
                   for ancestor in self._ancestors(cls, 5)
                   for base in classes.get(ancestor, ()))

    def _ancestors(self, cls: str, limit: int) -> tuple[str, ...]:
        """Return a class and its project bases, depth first, down to `limit` levels."""
        key = (cls, limit)
        hit = self._ancestor_memo.get(key)
        if hit is None:
            outer, self._seen = self._seen, set()
            classes = self.table.classes
            found: list[str] = []
            visited: set[str] = set()
            stack = [(cls, 0)]
            while stack:
                name, depth = stack.pop()
                if name in visited:
                    continue  # a cycle or a diamond of bases
                visited.add(name)
                found.append(name)
                self._seen.add(name)
                if depth < limit:
                    bases = [resolved for base in classes.get(name, ())
                             if (resolved := self._as_class(base)) is not None]
                    stack.extend((base, depth + 1) for base in reversed(bases))
            hit = (tuple(found), self._seen)
            self._ancestor_memo[key] = hit
            self._seen = outer
        self._seen |= hit[1]
        return hit[0]

    def _as_class(self, base: str) -> str | None:
        self._seen.add(base)
        if base in self.table.classes:
            return base
        hit = self._alias_memo.get(base)
        if hit is None:
            outer, self._seen = self._seen, set()
            hit = (self._class_alias(base), self._seen)
            self._alias_memo[base] = hit
            self._seen = outer
        self._seen |= hit[1]
        return hit[0]

    def _class_alias(self, name: str) -> str | None:
        aliases, classes, seen = self.table.aliases, self.table.classes, self._seen
        for _ in range(MAX_ALIAS_HOPS):
            owner, _, attr = name.rpartition(".")
            seen.add(name)
            seen.add(owner)
            target = aliases.get(name) or (
                f"{aliases[owner]}.{attr}" if owner in aliases else None)
            if target is None or target == name:
                return None
            seen.add(target)
            if target in classes:
                return target
            name = target
        return None

    def _symbol(self, qual: str) -> tuple[str, str]:
        """Return the kind of a public name and where it is defined."""
        table, seen = self.table, self._seen
        seen.add(qual)
        if qual in table.functions:
            return "function", qual
        if qual in table.classes:
            return "class", qual
        target = table.aliases.get(qual)
        if target is None:
            return "variable", qual
        name = target
        for _ in range(MAX_ALIAS_HOPS):
            seen.add(name)
            if name in table.functions or name in table.classes:
                break
            nxt = table.aliases.get(name)
            if nxt is None or nxt == name:
                break
            name = nxt
        return "reexport", name
