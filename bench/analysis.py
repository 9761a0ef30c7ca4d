"""Benchmark the analysis on the running Python's standard library, against ruff and bandit.

Prints lines per second of a cold analysis (empty cache), the time of a re-analysis after 10
files change (function bodies), and after one file renames a function other modules import,
and the times of `ruff check` and `bandit -r` on the same tree. Every figure comes with the
CPU time it took (this process and its workers) and the load average before it, because the
machine is shared: wall time under load says little on its own.
Three rounds by default, each on a fresh copy and a fresh cache, then the median, best and
worst of each figure: on a shared machine one run can be a tenth off either way.
The tree is the running Python's standard library unless --tree names another folder. The
interpreter is printed first: its build (a statically linked, profile-guided build such as
Debian's python3, or a default pyenv build linking libpython) changes every figure by a third.
Usage: .venv/bin/python -P bench/analysis.py [--keep] [--rounds N] [--tree PATH]
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

# Running as a script puts bench/ first on sys.path, where other benchmarks' modules (queue.py)
# would shadow the standard library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from bot.analysis.hotspots import rank_hot_spots
from bot.analysis.index import build_index
from bot.analysis.model import CodebaseIndex

TOOL_TIMEOUT = 900
# A top-level function whose signature fits on its line: a statement can follow it.
_ONE_LINE_DEF = re.compile(r"^def \w+\(.*\)( -> .+)?:[ \t]*$", re.MULTILINE)


def _copy_tree(source: Path, target: Path) -> Path:
    tree = target / "Lib"
    shutil.copytree(source, tree, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "dist-packages",
                                                  "__pycache__", "*.pyc"))
    return tree


def _interpreter() -> str:
    """Describe the running interpreter: version, executable, and how libpython is linked."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        linked = "libpython linking unknown"
    else:
        linked = "links libpython shared" if "libpython3" in maps else "libpython static"
    executable = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return f"python {sys.version.split()[0]} ({executable}, {linked})"


def _cpu() -> tuple[float, float]:
    """Return the CPU seconds used so far by this process, and by all its descendants.

    The parsing workers may be children of the multiprocessing fork server rather than of
    this process: their time is read from the live children's /proc entries (time of their
    own finished children included). The child that links half the modules is counted too.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = reaped.ru_utime + reaped.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        if fields[1] == me:  # utime, stime, cutime, cstime follow the parent id
            total += sum(int(f) for f in fields[11:15]) / tick
    return own.ru_utime + own.ru_stime, total


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _host_speed() -> float:
    """Return the CPU seconds of a fixed pure-Python loop (about 0.45 s here on a quiet host).

    A shared host's cores slow down and speed up by a quarter from minute to minute; this says
    how fast they were around a round, so figures of different runs can be compared.
    """
    started = time.process_time()
    total = 0
    for n in range(10_000_000):
        total += n
    return time.process_time() - started


def _analyse(tree: Path, cache: Path) -> tuple[float, float, float, CodebaseIndex]:
    """Time a full analysis: the index plus the hot-spot ranking (fan-in, tests reached).

    Return the wall time, the CPU time of this process and that of its workers.
    """
    own, workers = _cpu()
    started = time.perf_counter()
    index = build_index(tree, cache_dir=cache)
    rank_hot_spots(index)
    wall = time.perf_counter() - started
    own_after, workers_after = _cpu()
    return wall, own_after - own, workers_after - workers, index


def _rename_imported(tree: Path) -> str | None:
    """Rename a function that other modules import (the table of names changes)."""
    path = tree / "shlex.py"
    if not path.is_file():
        return None  # another tree than the standard library
    path.write_text(path.read_text(encoding="utf-8").replace("def split(", "def split_words("),
                    encoding="utf-8")
    return "shlex.split -> shlex.split_words"


def _change_files(tree: Path, count: int) -> list[Path]:
    """Edit the body of a function in `count` modules, as a push would (the files still parse)."""
    changed: list[Path] = []
    for path in sorted(tree.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        match = _ONE_LINE_DEF.search(text)
        if match is None or "coding" in text[:200]:
            continue
        edited = (f"{text[:match.end()]}\n    _selfmod_bench = {len(changed)}"
                  f"{text[match.end():]}")
        try:
            ast.parse(edited)
        except SyntaxError:
            continue
        path.write_text(edited, encoding="utf-8")
        changed.append(path)
        if len(changed) == count:
            break
    return changed


def _time_tool(command: list[str], cwd: Path) -> str:
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, timeout=TOOL_TIMEOUT,
                              check=False)
    except FileNotFoundError:
        return "not installed"
    except subprocess.TimeoutExpired:
        return f"timed out after {TOOL_TIMEOUT} s"
    seconds = time.perf_counter() - started
    # Both tools exit 1 when they find issues, which the stdlib has; above 1 is a failure.
    status = "ok" if done.returncode in (0, 1) else (
        f"failed (exit {done.returncode}): {done.stderr.decode(errors='replace')[-300:]}")
    return f"{seconds:.2f} s ({status})"


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    parser.add_argument("--rounds", type=int, default=3, help="cold and incremental rounds")
    parser.add_argument("--no-tools", action="store_true", help="skip ruff and bandit")
    parser.add_argument("--tree", type=Path, help="analyse this folder instead of the "
                        "running Python's standard library")
    args = parser.parse_args()
    source = args.tree or Path(sysconfig.get_paths()["stdlib"])
    if not source.is_dir():
        parser.error(f"{source} is not a folder")
    work = Path(tempfile.mkdtemp(prefix="selfmod-bench-"))
    try:
        print(f"{_interpreter()}, {os.cpu_count()} cores\ntree {source}, work folder {work}")
        figures: list[tuple[float, float]] = []
        for round_ in range(1, args.rounds + 1):
            tree = _copy_tree(source, work / f"round-{round_}")  # fresh: edits start over
            figures.append(_round(tree, work / f"index-cache-{round_}", round_))
            if round_ < args.rounds:
                shutil.rmtree(tree)
        _summary(figures)
        if not args.no_tools:
            venv_bin = Path(sys.executable).parent
            ruff = [str(venv_bin / "ruff"), "check", "--no-cache", "--exit-zero", "."]
            print(f"ruff check: {_time_tool(ruff, tree)}  ({_load()})")
            bandit = [str(venv_bin / "bandit"), "-r", "-q", "."]
            print(f"bandit -r: {_time_tool(bandit, tree)}  ({_load()})")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _summary(figures: list[tuple[float, float]]) -> None:
    """Print the median, best and worst cold speed and incremental time over the rounds."""
    cold = sorted(f[0] for f in figures)
    incremental = sorted(f[1] for f in figures)
    print(f"over {len(figures)} round(s): cold analysis median {statistics.median(cold):,.0f} "
          f"lines/s (best {cold[-1]:,.0f}, worst {cold[0]:,.0f}); re-analysis after 10 files "
          f"median {statistics.median(incremental):.2f} s (best {incremental[0]:.2f}, worst "
          f"{incremental[-1]:.2f})")


def _round(tree: Path, cache: Path, round_: int) -> tuple[float, float]:
    """Time a cold analysis, an unchanged one, and two incremental ones, on a fresh cache.

    Return the cold lines per second and the time after 10 files changed.
    """
    _age(tree)
    print(f"[round {round_}] host speed: the reference loop took {_host_speed():.2f} s")
    load = _load()
    cold, own, workers, index = _analyse(tree, cache)
    stats = index.stats
    print(f"  files {stats.files}, lines {stats.lines}, functions "
          f"{len(index.functions)}, skipped {len(index.problems)}")
    # On two idle cores the workers' share runs in parallel and the rest after it.
    idle = workers / 2 + own
    print(f"  cold analysis: {cold:.2f} s, {stats.lines / cold:,.0f} lines/s  ({load})\n"
          f"    CPU: main process {own:.2f} s, worker processes (parsing, linking) "
          f"{workers:.2f} s; on two idle "
          f"cores about {idle:.2f} s = {stats.lines / idle:,.0f} lines/s (estimate)")
    load = _load()
    warm, own, _, _ = _analyse(tree, cache)
    print(f"  unchanged re-analysis: {warm:.2f} s, CPU {own:.2f} s  ({load})")
    changed = _change_files(tree, 10)
    load = _load()
    incremental, own, _, index = _analyse(tree, cache)
    print(f"  re-analysis after {len(changed)} files changed: {incremental:.2f} s, CPU "
          f"{own:.2f} s (parsed {index.stats.parsed}, relinked {index.stats.relinked})  "
          f"({load})")
    what = _rename_imported(tree)
    if what is None:
        return stats.lines / cold, incremental
    load = _load()
    renamed, own, _, index = _analyse(tree, cache)
    print(f"  re-analysis after a rename others import ({what}): {renamed:.2f} s, CPU "
          f"{own:.2f} s (parsed {index.stats.parsed}, relinked {index.stats.relinked})  "
          f"({load})")
    return stats.lines / cold, incremental


def _age(tree: Path) -> None:
    """Age the copy: files changed within the last seconds are always re-hashed."""
    old = time.time() - 3600
    for path in tree.rglob("*.py"):
        os.utime(path, (old, old), follow_symlinks=False)


if __name__ == "__main__":
    sys.exit(main())
