"""Read-only mappings of the index, built from the linked modules when first looked at.

A large codebase has tens of thousands of functions and hundreds of thousands of call sites,
and a consumer looks at a few of them: each module's part is decoded on first access, and
only iterating a whole mapping decodes every module.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from bot.analysis.link import DETAILS, EDGES, FileEntry, call_edges, function_row, split
from bot.analysis.model import ClassInfo, FunctionInfo, Import, Loop, ModuleInfo, Span

K = TypeVar("K")
V = TypeVar("V")


def function_info(row: tuple[Any, ...]) -> FunctionInfo:
    """Build a FunctionInfo from its cached row."""
    (qual, name, module, path, class_qual, is_async, span, first, signature, params,
     decorators, doc, complexity, loops, annotated, is_test) = row
    return FunctionInfo(qual, name, module, path, class_qual, is_async, Span(*span), first,
                        signature, params, decorators, doc, complexity,
                        tuple([Loop(kind, Span(a, b), depth) for kind, a, b, depth in loops])
                        if loops else (), annotated, is_test)


class ModuleStore:
    """The linked modules of one index, decoded part by part on demand."""

    def __init__(self, entries: list[FileEntry], blobs: dict[str, bytes],
                 records: Callable[[FileEntry], bytes],
                 memo: Callable[[], Mapping[str, str | None]]) -> None:
        """Keep the entries that parsed (in path order), their linked blobs and records."""
        self.entries = {e.module: e for e in entries}
        self.blobs = blobs
        self._records = records
        self._memo = memo
        self._details: dict[str, tuple[tuple[Any, ...], Any]] = {}
        self._functions: dict[str, dict[str, FunctionInfo]] = {}
        self._classes: dict[str, dict[str, ClassInfo]] = {}
        self._modules: set[str] | None = None

    def good_modules(self) -> list[str]:
        """Return the modules that parsed, in path order."""
        return list(self.entries)

    def module_set(self) -> set[str]:
        """Return the names of the modules that parsed."""
        if self._modules is None:
            self._modules = set(self.entries)
        return self._modules

    def details(self, module: str) -> tuple[tuple[Any, ...], Any] | None:
        """Return a module's record and its linked details (test positions, file kinds)."""
        found = self._details.get(module)
        if found is None:
            entry = self.entries.get(module)
            if entry is None:
                return None
            found = self._details[module] = (
                marshal.loads(self._records(entry)),
                marshal.loads(split(self.blobs[entry.path])[DETAILS]))
        return found

    def owners(self, qualname: str) -> Iterator[str]:
        """Yield the modules whose name is a dotted prefix of a qualified name."""
        position = qualname.find(".")
        while position > 0:
            prefix = qualname[:position]
            if prefix in self.entries:
                yield prefix
            position = qualname.find(".", position + 1)

    def functions(self, module: str) -> dict[str, FunctionInfo]:
        """Return a module's functions by qualified name."""
        found = self._functions.get(module)
        if found is None:
            found = self._functions[module] = {}
            details = self.details(module)
            if details is not None:
                (record, (tests, _in_test, _in_bench)), path = details, self.entries[module].path
                test_set = set(tests)
                for i, fn in enumerate(record[5]):
                    info = function_info(function_row(fn, module, path, i in test_set))
                    found[info.qualname] = info
        return found

    def classes(self, module: str) -> dict[str, ClassInfo]:
        """Return a module's classes by qualified name."""
        found = self._classes.get(module)
        if found is None:
            found = self._classes[module] = {}
            details = self.details(module)
            if details is not None:
                path = self.entries[module].path
                for qual, name, line, end, decorators, doc, bases, methods in details[0][4]:
                    full = f"{module}.{qual}"
                    found[full] = ClassInfo(full, name, module, path, Span(line, end),
                                            decorators, doc, bases, methods)
        return found

    def calls(self, module: str) -> dict[str, tuple[tuple[str, str, int], ...]]:
        """Return the raw calls of a module's functions."""
        details = self.details(module)
        if details is None:
            return {}
        return {f"{module}.{fn[0]}": fn[15] for fn in details[0][5]}

    def module_info(self, module: str) -> ModuleInfo | None:
        """Build a module's ModuleInfo."""
        details = self.details(module)
        if details is None:
            return None
        entry = self.entries[module]
        record, (_tests, is_test, is_bench) = details
        prefix = module + "."
        return ModuleInfo(module, entry.path, entry.is_package, is_test, is_bench, record[1],
                          record[2],
                          tuple(Import(t, b, line, f) for t, b, line, f in record[3]),
                          tuple(record[7]) if record[7] is not None else None,
                          tuple(prefix + c[0] for c in record[4]),
                          tuple(prefix + fn[0] for fn in record[5]), entry.digest)

    def imports(self, module: str) -> list[Any]:
        """Return a module's raw imports."""
        details = self.details(module)
        return details[0][3] if details is not None else []

    def edges(self) -> Iterator[tuple[str, tuple[str, str, int], str]]:
        """Yield every edge: calls of all modules, then fixture edges, then setUp edges."""
        memo = self._memo()
        harness = []
        for module, entry in self.entries.items():
            yield from call_edges(marshal.loads(self._records(entry)), module, memo)
            harness.append(marshal.loads(split(self.blobs[entry.path])[EDGES]))
        for index in range(2):
            for group in harness:
                yield from group[index]


class LazyMapping(Mapping[K, V], Generic[K, V]):
    """A mapping whose values are looked up one by one, or all at once when iterated."""

    def __init__(self, lookup: Callable[[K], tuple[bool, V | None]],
                 load_all: Callable[[], dict[K, V]]) -> None:
        self._lookup = lookup
        self._load_all = load_all
        self._all: dict[K, V] | None = None

    def _full(self) -> dict[K, V]:
        if self._all is None:
            self._all = self._load_all()
        return self._all

    def __getitem__(self, key: K) -> V:
        if self._all is not None:
            return self._all[key]
        found, value = self._lookup(key)
        if not found:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        if self._all is not None:
            return key in self._all
        try:
            return self._lookup(key)[0]  # type: ignore[arg-type]
        except TypeError:
            return False

    def __iter__(self) -> Iterator[K]:
        return iter(self._full())

    def __len__(self) -> int:
        return len(self._full())


def _by_owner(store: ModuleStore, table: Callable[[str], Mapping[str, V]],
              ) -> Callable[[str], tuple[bool, V | None]]:
    """Look a qualified name up in the modules it may belong to; the last file wins."""

    def lookup(qualname: str) -> tuple[bool, V | None]:
        found: tuple[bool, V | None] = (False, None)
        path = ""
        if not isinstance(qualname, str):
            return found
        for module in store.owners(qualname):
            values = table(module)
            entry_path = store.entries[module].path
            if qualname in values and entry_path > path:
                found, path = (True, values[qualname]), entry_path
        return found

    return lookup


def _merged(store: ModuleStore, table: Callable[[str], Mapping[str, V]],
            ) -> Callable[[], dict[str, V]]:
    def load() -> dict[str, V]:
        merged: dict[str, V] = {}
        for module in store.good_modules():
            merged.update(table(module))
        return merged

    return load


def function_map(store: ModuleStore) -> LazyMapping[str, FunctionInfo]:
    """Return the functions by qualified name."""
    return LazyMapping(_by_owner(store, store.functions), _merged(store, store.functions))


def class_map(store: ModuleStore) -> LazyMapping[str, ClassInfo]:
    """Return the classes by qualified name."""
    return LazyMapping(_by_owner(store, store.classes), _merged(store, store.classes))


def call_map(store: ModuleStore) -> LazyMapping[str, tuple[tuple[str, str, int], ...]]:
    """Return each function's raw calls."""
    return LazyMapping(_by_owner(store, store.calls), _merged(store, store.calls))


def module_map(store: ModuleStore) -> LazyMapping[str, ModuleInfo]:
    """Return the parsed modules by name."""

    def lookup(name: str) -> tuple[bool, ModuleInfo | None]:
        info = store.module_info(name) if isinstance(name, str) else None
        return info is not None, info

    def load() -> dict[str, ModuleInfo]:
        return {m: info for m in store.good_modules()
                if (info := store.module_info(m)) is not None}

    return LazyMapping(lookup, load)


def module_graph(store: ModuleStore) -> LazyMapping[str, tuple[str, ...]]:
    """Return each module's imports of project modules."""
    cache: dict[str, tuple[str, ...]] = {}

    def lookup(module: str) -> tuple[bool, tuple[str, ...] | None]:
        if module in cache:
            return True, cache[module]
        if not isinstance(module, str) or store.details(module) is None:
            return False, None
        modules = store.module_set()
        found: set[str] = set()
        for target, _bound, _line, _from in store.imports(module):
            name = target
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
        cache[module] = tuple(sorted(found))
        return True, cache[module]

    def load() -> dict[str, tuple[str, ...]]:
        return {m: lookup(m)[1] or () for m in store.good_modules()}

    return LazyMapping(lookup, load)


def caller_map(store: ModuleStore,
               ) -> LazyMapping[str, list[tuple[str, tuple[str, str, int]]]]:
    """Return the call sites that reach each function (built in one pass on first use)."""
    built: dict[str, list[tuple[str, tuple[str, str, int]]]] = {}
    ready = False

    def load() -> dict[str, list[tuple[str, tuple[str, str, int]]]]:
        nonlocal ready
        if not ready:
            for caller, call, target in store.edges():
                if target in built:
                    built[target].append((caller, call))
                else:
                    built[target] = [(caller, call)]
            ready = True
        return built

    def lookup(target: str) -> tuple[bool, list[tuple[str, tuple[str, str, int]]] | None]:
        callers = load()
        return (True, callers[target]) if target in callers else (False, None)

    return LazyMapping(lookup, load)


def resolution_map(memo: Callable[[], dict[str, str | None]]) -> LazyMapping[str, str | None]:
    """Return the resolution of each call candidate (decoded on first use)."""

    def lookup(candidate: str) -> tuple[bool, str | None]:
        found = memo()
        return (True, found[candidate]) if candidate in found else (False, None)

    return LazyMapping(lookup, memo)
