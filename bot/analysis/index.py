"""Building the codebase index: discover, reuse cached records, parse the rest in parallel."""

from __future__ import annotations

import contextlib
import gc
import marshal
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.analysis.cache import IndexCache, StatKey, content_hash, record_key
from bot.analysis.conventions import detect_conventions
from bot.analysis.discover import DEFAULT_MAX_FILE_BYTES, SourceFile, discover, read_source
from bot.analysis.extract import extract_source
from bot.analysis.incremental import LinkResult, fork_is_safe, link_all
from bot.analysis.link import FileEntry, module_contribution
from bot.analysis.model import (
    CodebaseIndex,
    FunctionInfo,
    IndexStats,
    Problem,
    ProblemKind,
    PublicSymbol,
)
from bot.analysis.repoconfig import RepoConfig
from bot.analysis.table import Contribution
from bot.analysis.views import (
    ModuleStore,
    call_map,
    caller_map,
    class_map,
    function_info,
    function_map,
    module_graph,
    module_map,
    resolution_map,
)
from bot.errors import AnalysisError

# Below this much work a process pool costs more than it saves.
_POOL_MIN_FILES = 40
_POOL_MIN_BYTES = 1_000_000
# A file changed this recently may change again within the same mtime tick: hash it next time.
_RACY_SECONDS = 2.0

T = TypeVar("T")
# Position, source, module, is_package, path, content hash ("" when not computed yet).
Task = tuple[int, bytes, str, bool, str, str]
# What a worker returns for a task: position, content hash, marshalled record, contribution.
Parsed = tuple[int, str, bytes, Contribution]


def build_index(root: Path | str, *, cache_dir: Path | None = None,
                cache_key: str | None = None, config: RepoConfig | None = None,
                include: Sequence[str] = (), exclude: Sequence[str] = (),
                max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                workers: int | None = None) -> CodebaseIndex:
    """Index the Python code under root, reusing the cache in cache_dir when given.

    `cache_key` names the codebase in the cache (default: the root's real path), so fresh
    checkouts of one repository can share records. Globs of `config` add to include/exclude.
    """
    with _gc_paused():
        return _build(Path(root), cache_dir, cache_key, config, include, exclude,
                      max_file_bytes, workers)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector: the index makes millions of objects and no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(root: Path, cache_dir: Path | None, cache_key: str | None,
           config: RepoConfig | None, include: Sequence[str], exclude: Sequence[str],
           max_file_bytes: int, workers: int | None) -> CodebaseIndex:
    started = time.perf_counter()
    if not root.is_dir():
        raise AnalysisError(f"{root} is not a folder")
    if config is not None:
        include = (*include, *config.include)
        exclude = (*exclude, *config.exclude)
    files, problems = discover(root, include=include, exclude=exclude,
                               max_file_bytes=max_file_bytes)
    names = module_names([f.path for f in files], root.resolve().name)
    cache = IndexCache.open(cache_dir, cache_key or str(root.resolve()))
    count = workers or usable_cores()
    with contextlib.ExitStack() as stack:
        pool = None
        if not cache.records and _pool_pays(count, len(files), sum(f.size for f in files)):
            # Nothing is cached: start the workers while the files are read and hashed.
            pool = stack.enter_context(_pool(count))
            for _ in range(count):
                pool.submit(int)
        entries, tasks = _plan(root, files, names, cache, problems)
        contribs: dict[str, Contribution] = {}
        for position, digest, blob, contrib in _parse(tasks, count, pool):
            entry = entries[position]
            entries[position] = entry._replace(
                digest=digest, key=record_key(digest, entry.module, entry.is_package),
                record=blob)
            contribs[entry.path] = contrib
    linked = link_all(entries, cache, contribs=contribs)
    if linked.dirty or tasks or len(files) != len(cache.stats):
        _save(cache, files, linked)  # nothing new: the cache on disk is already right
    return assemble_index(root, linked, problems, parsed=len(tasks), started=started)


def module_names(paths: Sequence[str], root_name: str) -> dict[str, tuple[str, bool]]:
    """Name each file's module by climbing the folders that hold an `__init__.py`.

    A folder without one below a package is a namespace portion of it (`flask/sansio/app.py`
    is `flask.sansio.app`), and is climbed too.
    """
    packages = {p.rpartition("/")[0] for p in paths if p.rpartition("/")[2] == "__init__.py"}
    root_is_package = "" in packages or "__init__.py" in paths
    names: dict[str, tuple[str, bool]] = {}
    taken: set[str] = set()
    for path in paths:
        parts = path[:-3].split("/")
        start = len(parts) - 1
        while start > 0 and ("/".join(parts[:start]) in packages or any(
                "/".join(parts[:above]) in packages for above in range(1, start))):
            start -= 1
        dotted = parts[start:]
        if start == 0 and root_is_package:
            dotted = [root_name, *dotted]
        is_package = dotted[-1] == "__init__"
        if is_package:
            dotted = dotted[:-1] or [root_name]
        name = ".".join(dotted)
        if name in taken:
            name = f"{name}[{path}]"  # two top-level files of one name (conftest.py, setup.py)
        taken.add(name)
        names[path] = (name, is_package)
    return names


def _plan(root: Path, files: list[SourceFile], names: dict[str, tuple[str, bool]],
          cache: IndexCache, problems: list[Problem]) -> tuple[list[FileEntry], list[Task]]:
    """Match files to cached records by stat, then by content hash; list what to parse."""
    entries: list[FileEntry] = []
    tasks: list[Task] = []
    records = cache.records
    real_root = os.path.realpath(root)
    for source_file in files:
        module, is_package = names[source_file.path]
        key: StatKey = (source_file.size, source_file.mtime_ns, source_file.inode)
        digest = cache.known_hash(source_file.path, key)
        source = None
        if digest is None or record_key(digest, module, is_package) not in records:
            try:
                source = read_source(real_root, source_file.path, resolved=True)
            except OSError as exc:
                problems.append(Problem(source_file.path, ProblemKind.UNREADABLE,
                                        str(exc.strerror or exc)))
                continue
            # With nothing cached no hash can match: the worker that parses the file hashes it.
            digest = content_hash(source) if records else ""
        rkey = record_key(digest, module, is_package)
        if not digest or rkey not in records:
            if source is None:  # pragma: no cover - the branch above read it
                raise AssertionError("source must have been read")
            tasks.append((len(entries), source, module, is_package, source_file.path, digest))
        # The record blob stays in the cache until a re-link needs it.
        entries.append(FileEntry(source_file.path, module, is_package, digest, rkey, None))
    return entries, tasks


def usable_cores() -> int:
    """Return how many cores this process may run on (a container or taskset may limit it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1  # pragma: no cover - platforms without affinity (macOS)


def _pool_pays(count: int, files: int, total_bytes: int) -> bool:
    """Return whether parsing this much in worker processes beats parsing in-process."""
    return count >= 2 and files >= _POOL_MIN_FILES and total_bytes >= _POOL_MIN_BYTES


def _pool(count: int) -> ProcessPoolExecutor:
    # Parsing workers make millions of objects and no cycles: no collector in them.
    return process_pool(count, preload="bot.analysis.index", initializer=gc.disable)


def process_pool(count: int, *, preload: str,
                 initializer: Callable[[], object] | None = None) -> ProcessPoolExecutor:
    """Return a pool of `count` worker processes, forked when that is safe.

    `preload` names the module a fork server imports once for all its workers.
    """
    context: multiprocessing.context.BaseContext
    if fork_is_safe():
        # A single-threaded caller (the command line) forks at once, its imports done; a
        # fork server would first start and import the analysis (a quarter of a second).
        context = multiprocessing.get_context("fork")
    else:
        # Forking a threaded process (a server) is unsafe: workers come from a fork server,
        # which imports the preloaded module once for all of them.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
    return ProcessPoolExecutor(count, mp_context=context, initializer=initializer)


def _parse(tasks: list[Task], count: int, pool: ProcessPoolExecutor | None,
           ) -> list[Parsed]:
    """Extract every task's record, in a process pool when the work is large enough."""
    if not _pool_pays(count, len(tasks), sum(len(t[1]) for t in tasks)):
        return _extract_batch(tasks)
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(_pool(count))
        results: list[Parsed] = []
        for part in pool.map(_extract_batch, _batches(tasks, count * 16, _source_size)):
            results.extend(part)
    return results


def _batches(tasks: list[T], count: int, size: Callable[[T], int]) -> list[list[T]]:
    """Split tasks into batches of similar size, the largest first."""
    ordered = sorted(tasks, key=size, reverse=True)
    batches: list[list[T]] = [[] for _ in range(count)]
    sizes = [0] * count
    for task in ordered:
        smallest = sizes.index(min(sizes))
        batches[smallest].append(task)
        sizes[smallest] += size(task)
    return [b for b in batches if b]


def _source_size(task: Task) -> int:
    return len(task[1])


def _extract_batch(tasks: list[Task]) -> list[Parsed]:
    """Extract a batch of files into marshalled records (cheap to send back and to cache).

    Each comes with what the module adds to the table of names, computed here rather than
    by decoding the record again in the main process.
    """
    with _gc_paused():
        parsed: list[Parsed] = []
        for pos, src, module, pkg, path, digest in tasks:
            record = extract_source(src, module, pkg)
            contrib = module_contribution(record, FileEntry(path, module, pkg, "", "", None))
            parsed.append((pos, digest or content_hash(src), marshal.dumps(record), contrib))
        return parsed


def _save(cache: IndexCache, files: list[SourceFile], linked: LinkResult) -> None:
    by_path = {e.path: e for e in linked.entries}
    racy = time.time_ns() - int(_RACY_SECONDS * 1e9)
    stats: dict[str, tuple[StatKey, str]] = {}
    records: dict[str, bytes] = {}
    links: dict[str, bytes] = {}
    for f in files:
        entry = by_path.get(f.path)
        if entry is None:
            continue
        if f.mtime_ns < racy:
            stats[f.path] = ((f.size, f.mtime_ns, f.inode), entry.digest)
        records[entry.key] = entry.record if entry.record is not None else cache.records[
            entry.key]
        links[entry.key] = linked.blobs[entry.path]
    try:
        cache.save(stats, records, links, linked.state)
    except OSError as exc:
        raise AnalysisError(f"cannot write the index cache {cache.path}: {exc}") from exc


def assemble_index(root: Path, linked: LinkResult, problems: list[Problem], *, parsed: int,
                   started: float) -> CodebaseIndex:
    """Turn the linked modules and their totals into the index."""
    problems = list(problems)
    good: list[FileEntry] = []
    lines = 0
    tests: list[str] = []
    benchmarks: list[str] = []
    hot: list[FunctionInfo] = []
    public: list[PublicSymbol] = []
    for entry in linked.entries:
        entry_tests, entry_benchmarks, hot_rows, public_rows, entry_lines, problem = (
            linked.summaries[entry.path])
        if problem is not None:
            kind, message, line = problem
            problems.append(Problem(entry.path, ProblemKind(kind), message, line))
            continue
        good.append(entry)
        lines += entry_lines
        tests += entry_tests
        benchmarks += entry_benchmarks
        hot += map(function_info, hot_rows)
        public += (PublicSymbol(*row) for row in public_rows)
    store = ModuleStore(good, linked.blobs, linked.records, linked.memo)
    files = len(linked.entries)
    return CodebaseIndex(
        root=root, modules=module_map(store), classes=class_map(store),
        functions=function_map(store), module_graph=module_graph(store),
        call_records=call_map(store), resolution=resolution_map(linked.memo),
        caller_records=caller_map(store), tests=tuple(tests), benchmarks=tuple(benchmarks),
        tested=frozenset(linked.tested), benchmarked=frozenset(linked.benchmarked),
        public_api=tuple(sorted(public, key=_qualname)),
        conventions=detect_conventions(root, [linked.conventions]),
        problems=tuple(sorted(problems, key=lambda p: (p.path, p.line))),
        stats=IndexStats(files, parsed, files - parsed, lines,
                         round(time.perf_counter() - started, 4), linked.relinked),
        fan_ins=linked.fan_in, hot_spot_candidates=tuple(hot))


def _qualname(symbol: PublicSymbol) -> str:
    return symbol.qualname
