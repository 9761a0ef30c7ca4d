"""Incremental linking: re-link only the modules whose record or whose answers changed.

The link state kept in the cache, beside one linked blob per module:

- totals: which record each path was linked from, each module's summary, the distinct
  callers of each function, the convention counters, the tested and benchmarked sets;
- answers: every query's answer, and how many modules asked it;
- inputs: the names each answer looked up;
- the table of names.

A run compares each file's record key with the one it was linked from. For the files that
changed it diffs what they add to the table; answers that looked up a changed name are computed
again, and modules that asked a question whose answer changed are linked again. Totals are
updated by subtracting the old module and adding the new one, so unchanged modules are never
decoded. A cold run is the same with every file changed.
"""

from __future__ import annotations

import marshal
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from bot.analysis.cache import IndexCache
from bot.analysis.link import (
    CONTRIB,
    EDGES,
    QUERIES,
    TOTALS,
    FileEntry,
    Linked,
    link_module,
    module_contribution,
    reach,
    reach_inputs,
    split,
)
from bot.analysis.table import EMPTY, Contribution, Resolver, Table, changed_keys

# Below this many modules to link, a second process costs more than it saves.
_FORK_MIN_MODULES = 400
# The forked child links the modules at these positions modulo _CHILD_OF (3 of 8).
_CHILD_OF = 8
_CHILD_SLOTS = frozenset({1, 4, 6})


def fork_is_safe() -> bool:
    """Tell whether this process may fork: the platform can, and no other thread runs.

    A forked child of a threaded process (a server) may find a lock held forever.
    """
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


@dataclass
class LinkResult:
    """The linked modules of the current files, and the totals over them."""

    entries: list[FileEntry]  # in path order
    blobs: dict[str, bytes]  # path -> linked parts
    summaries: dict[str, Any]  # path -> summary
    fan_in: dict[str, int]
    conventions: dict[str, int]
    tested: list[str]
    benchmarked: list[str]
    memo: Callable[[], dict[str, str | None]]  # call candidate -> project function
    records: Callable[[FileEntry], bytes]  # an entry's marshalled record
    state: tuple[bytes, ...]
    relinked: int = 0
    dirty: bool = False  # the cache needs saving


@dataclass
class _Totals:
    assign: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)
    fan_in: dict[str, int] = field(default_factory=dict)
    conventions: dict[str, int] = field(default_factory=dict)
    tested: list[str] = field(default_factory=list)
    benchmarked: list[str] = field(default_factory=list)

    def dump(self) -> bytes:
        return marshal.dumps((self.assign, self.summaries, self.fan_in, self.conventions,
                              self.tested, self.benchmarked))


def link_all(entries: list[FileEntry], cache: IndexCache, *,
             contribs: dict[str, Contribution] | None = None) -> LinkResult:
    """Link every entry, reusing what the cache holds for unchanged modules.

    `contribs` holds the table contributions of freshly parsed files, computed where they
    were parsed.
    """
    return _Run(entries, cache, contribs or {}).run()


class _Run:
    def __init__(self, entries: list[FileEntry], cache: IndexCache,
                 contribs: dict[str, Contribution]) -> None:
        self.entries = entries
        self.cache = cache
        self.parsed_contribs = contribs
        self.by_path = {e.path: e for e in entries}
        state = cache.state
        valid = state is not None and len(state) == 4
        self.state: tuple[bytes, ...] = state if state is not None and valid else (b"",) * 4
        self.totals = _Totals(*marshal.loads(self.state[0])) if valid else _Totals()
        self.old_blobs = {p: cache.links[k] for p, k in self.totals.assign.items()
                          if k in cache.links}
        if len(self.old_blobs) != len(self.totals.assign):  # inconsistent: start afresh
            self.totals, self.old_blobs, self.state = _Totals(), {}, (b"",) * 4
        self._records: dict[str, tuple[Any, ...]] = {}
        self._memo: tuple[dict[str, Any], dict[str, Any], dict[str, int]] | None = None
        self._deps: dict[str, tuple[str, ...]] | None = None
        self._table: Table | None = None
        self.table_stale = False  # the cached table misses a changed contribution
        self.new_contribs: dict[str, Contribution] = {}
        self.new_pairs: dict[str, list[tuple[str, str]]] = {}
        self.fan_in: Counter[str] = Counter()
        self.conventions: Counter[str] = Counter()
        self.refs: Counter[str] = Counter()

    # -- lazily decoded state ---------------------------------------------------------------

    def memo(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
        if self._memo is None:
            self._memo = marshal.loads(self.state[1]) if self.state[1] else ({}, {}, {})
        return self._memo

    def deps(self) -> dict[str, tuple[str, ...]]:
        if self._deps is None:
            self._deps = marshal.loads(self.state[2]) if self.state[2] else {}
        return self._deps

    def table(self) -> Table:
        if self._table is None:
            if self.state[3] and not self.table_stale:
                self._table = Table.load(marshal.loads(self.state[3]))
            else:
                self._table = self._build_table()
                self.table_stale = False
                self.state = (*self.state[:3], marshal.dumps(self._table.dump()))
        return self._table

    def record(self, entry: FileEntry) -> tuple[Any, ...]:
        found = self._records.get(entry.key)
        if found is None:
            found = self._records[entry.key] = marshal.loads(self.record_blob(entry))
        return found

    def record_blob(self, entry: FileEntry) -> bytes:
        return entry.record if entry.record is not None else self.cache.records[entry.key]

    def contrib(self, path: str) -> Contribution:
        found = self.new_contribs.get(path)
        if found is None:
            found = marshal.loads(split(self.old_blobs[path])[CONTRIB])
        return found

    def _build_table(self) -> Table:
        table = Table()
        for entry in self.entries:
            table.add(entry.module, self.contrib(entry.path))
        return table

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> LinkResult:
        assign = self.totals.assign
        changed = [e.path for e in self.entries if assign.get(e.path) != e.key]
        removed = [p for p in assign if p not in self.by_path]
        if not changed and not removed:
            return self._result(dict(self.old_blobs), relinked=0, dirty=False)
        self.fan_in.update(self.totals.fan_in)
        self.conventions.update(self.totals.conventions)
        self.refs.update(self.memo()[2])
        keys = self._table_changes(changed, removed)
        resolver = Resolver(self.table, *self.memo()[:2], {})
        answers_changed = self._refresh(resolver, keys) if keys and self.state[2] else set()
        relink = set(changed)
        if answers_changed:
            relink |= {p for p in self.by_path if p not in relink and
                       not answers_changed.isdisjoint(
                           marshal.loads(split(self.old_blobs[p])[QUERIES]))}
        blobs = dict(self.old_blobs)
        for path in removed:
            self._subtract(path)
            del blobs[path], self.totals.summaries[path], assign[path]
        reach_dirty = self._relink(relink, resolver, blobs) or bool(removed)
        self._finish(resolver, blobs, reach_dirty)
        return self._result(blobs, relinked=len(relink), dirty=True)

    def _table_changes(self, changed: list[str], removed: list[str]) -> set[str]:
        """Return the names whose facts the changed and removed files alter."""
        keys: set[str] = set()
        # With no remembered answers (a cold run) nothing is refreshed, so the exact names
        # do not matter: any change makes the table stale.
        exact = bool(self.state[2])
        for path in changed:
            entry = self.by_path[path]
            new = self.parsed_contribs.get(path)
            if new is None:
                new = module_contribution(self.record(entry), entry)
            self.new_contribs[path] = new
            if not exact:
                keys.add(path)
            elif path in self.old_blobs:
                old_module = self.old_module(path)
                keys |= changed_keys(entry.module, self.contrib_old(path), new)
                if old_module != entry.module:  # same file, new name: all of it changed
                    keys |= changed_keys(old_module, self.contrib_old(path), EMPTY)
            else:
                keys |= changed_keys(entry.module, EMPTY, new)
        for path in removed:
            if not exact:
                keys.add(path)
                continue
            keys |= changed_keys(self.old_module(path), self.contrib_old(path), EMPTY)
        if keys:
            self.table_stale = True
            self.state = (*self.state[:3], b"")  # rebuilt when first needed
        return keys

    def _relink(self, relink: set[str], resolver: Resolver, blobs: dict[str, bytes]) -> bool:
        """Link the modules again; return whether what tests reach may have changed."""
        totals, reach_dirty = self.totals, False
        todo = [entry for entry in self.entries if entry.path in relink]
        if len(todo) >= _FORK_MIN_MODULES and fork_is_safe():
            done = self._link_in_two(todo, resolver)
        else:
            done = [self._link(entry, resolver) for entry in todo]
        for entry, linked in zip(todo, done, strict=True):
            before = self._subtract(entry.path) if entry.path in blobs else None
            blobs[entry.path] = linked.blob
            totals.summaries[entry.path] = linked.summary
            totals.assign[entry.path] = entry.key
            self.fan_in.update(linked.fan_in)
            self.conventions.update(linked.conventions)
            self.refs.update(linked.queries)
            self.new_pairs[entry.path] = linked.pairs
            reach_dirty = reach_dirty or before != reach_inputs(linked.summary, linked.pairs)
        return reach_dirty

    def _link(self, entry: FileEntry, resolver: Resolver) -> Linked:
        contrib = self.new_contribs.get(entry.path) or self.contrib(entry.path)
        return link_module(entry, self.record(entry), contrib, resolver)

    def _link_in_two(self, todo: list[FileEntry], resolver: Resolver) -> list[Linked]:
        """Link a share of the modules in a forked child while this process links the rest.

        The child starts with everything in memory (table, records, answers so far) and
        sends back its linked modules and the answers it computed; a child that fails only
        costs the time: its share is then linked here. The child's share is the smaller:
        copy-on-write faults and sending its answers back cost it a quarter of its time.
        """
        resolver.build_table()
        theirs_at = [i for i in range(len(todo)) if i % _CHILD_OF in _CHILD_SLOTS]
        theirs = [todo[i] for i in theirs_at]
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=self._link_share, args=(theirs, resolver, sender),
                                daemon=True)
        child.start()
        sender.close()
        skip = set(theirs_at)
        done = {i: self._link(entry, resolver) for i, entry in enumerate(todo) if i not in skip}
        try:
            rows, memo, answers, deps = marshal.loads(receiver.recv_bytes())
            theirs_linked = [Linked(*row) for row in rows]
        except (EOFError, OSError, ValueError):
            theirs_linked = [self._link(entry, resolver) for entry in theirs]
        else:
            resolver.memo.update(memo)
            resolver.answers.update(answers)
            resolver.deps.update(deps)
        finally:
            receiver.close()
            child.join()
        done.update(zip(theirs_at, theirs_linked, strict=True))
        return [done[i] for i in range(len(todo))]

    def _link_share(self, share: list[FileEntry], resolver: Resolver, sender: Connection,
                    ) -> None:
        """In the child: link a share of the modules and send them back with new answers."""
        linked = [self._link(entry, resolver) for entry in share]
        # Every answer computed since the run began has its inputs in `deps`. Marshal, as
        # for the cache: these are plain strings, tuples and dicts, and it is twice as fast.
        deps = resolver.deps
        sender.send_bytes(marshal.dumps((
            [tuple(one) for one in linked],
            {q: resolver.memo[q] for q in deps if q in resolver.memo},
            {q: resolver.answers[q] for q in deps if q in resolver.answers}, deps)))
        sender.close()

    def _finish(self, resolver: Resolver, blobs: dict[str, bytes], reach_dirty: bool) -> None:
        """Settle the totals, forget unused answers, and encode the new state."""
        totals = self.totals
        totals.fan_in = _positive(self.fan_in)
        totals.conventions = _positive(self.conventions)
        self.memo()[2].clear()
        self.memo()[2].update(_positive(self.refs))
        self._prune(resolver)
        if reach_dirty:
            self._reach(blobs)
        deps_blob = self.state[2]
        if resolver.deps or resolver.forgotten:
            deps = self.deps()
            for q in resolver.forgotten:
                deps.pop(q, None)
            deps.update(resolver.deps)
            deps_blob = marshal.dumps(deps)
        self.state = (totals.dump(), marshal.dumps(self.memo()), deps_blob, self.state[3])
        # Freed now by reference counting rather than traversed later by the collector: the
        # index keeps this run alive (for the memo and the records) but needs none of these.
        self._records.clear()
        self._deps = self._table = None
        self.new_contribs.clear()
        self.new_pairs.clear()

    def old_module(self, path: str) -> str:
        key = self.totals.assign[path]  # "digest:module:flag"
        return key.split(":", 1)[1].rpartition(":")[0]

    def contrib_old(self, path: str) -> Contribution:
        blob = self.old_blobs.get(path)
        return marshal.loads(split(blob)[CONTRIB]) if blob is not None else EMPTY

    def _refresh(self, resolver: Resolver, keys: set[str]) -> set[str]:
        """Recompute the answers that looked up a changed name; return those that differ."""
        memo, answers, _refs = self.memo()
        stale = [q for q, names in self.deps().items() if not keys.isdisjoint(names)]
        before = {q: (memo[q] if q in memo else answers.get(q)) for q in stale}
        resolver.forget(stale)
        differ = set()
        for q in stale:
            now = resolver.query(q) if q.startswith("\0") else resolver.resolve(q)
            if now != before[q]:
                differ.add(q)
        return differ

    def _subtract(self, path: str) -> Any:
        """Take an old linked module out of the totals; return its reach inputs."""
        parts = split(self.old_blobs[path])
        fan_in, conventions = marshal.loads(parts[TOTALS])
        self.fan_in.subtract(fan_in)
        self.conventions.subtract(conventions)
        self.refs.subtract(marshal.loads(parts[QUERIES]))
        return reach_inputs(self.totals.summaries[path], marshal.loads(parts[EDGES])[2])

    def _prune(self, resolver: Resolver) -> None:
        """Forget the answers no module asks for any more."""
        memo, answers, refs = self.memo()
        resolver.forget([q for q in (*memo, *answers) if q not in refs])

    def _reach(self, blobs: dict[str, bytes]) -> None:
        """Recompute the functions tests and benchmarks reach (the call graph changed)."""
        callees: dict[str, list[str]] = {}
        for entry in self.entries:
            pairs = self.new_pairs.get(entry.path)
            if pairs is None:
                pairs = marshal.loads(split(blobs[entry.path])[EDGES])[2]
            for caller, target in pairs:
                if caller in callees:
                    callees[caller].append(target)
                else:
                    callees[caller] = [target]
        summaries = [self.totals.summaries[e.path] for e in self.entries]
        self.totals.tested = sorted(reach((t for s in summaries for t in s[0]), callees))
        self.totals.benchmarked = sorted(reach((b for s in summaries for b in s[1]), callees))

    def _result(self, blobs: dict[str, bytes], *, relinked: int, dirty: bool) -> LinkResult:
        totals = self.totals
        return LinkResult(self.entries, blobs, totals.summaries, totals.fan_in,
                          totals.conventions, totals.tested, totals.benchmarked,
                          lambda: self.memo()[0], self.record_blob, self.state, relinked,
                          dirty)


def _positive(counts: Counter[str]) -> dict[str, int]:
    """Return the counts above zero (a subtraction leaves zeros behind)."""
    return {key: n for key, n in counts.items() if n > 0}
