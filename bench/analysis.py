"""Benchmark the analysis on the running Python's standard library, against ruff and bandit.

Prints lines per second of a cold analysis (empty cache), the time of a re-analysis after 10
files change, and the times of `ruff check` and `bandit -r` on the same tree.
Usage: .venv/bin/python bench/analysis.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
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

TOOL_TIMEOUT = 900


def _copy_stdlib(target: Path) -> Path:
    source = Path(sysconfig.get_paths()["stdlib"])
    tree = target / "Lib"
    shutil.copytree(source, tree, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc"))
    return tree


def _analyse(tree: Path, cache: Path) -> tuple[float, object]:
    """Time a full analysis: the index plus the hot-spot ranking (forces the call graph)."""
    started = time.perf_counter()
    index = build_index(tree, cache_dir=cache)
    rank_hot_spots(index)
    return time.perf_counter() - started, index


def _change_files(tree: Path, count: int) -> list[Path]:
    """Edit the body of a function in `count` modules, as a push would."""
    changed: list[Path] = []
    for path in sorted(tree.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "\ndef " not in text or "coding" in text[:200]:
            continue
        head, _, tail = text.partition("\ndef ")
        name, _, rest = tail.partition("\n")
        path.write_text(f"{head}\ndef {name}\n    _selfmod_bench = {len(changed)}\n{rest}",
                        encoding="utf-8")
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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="selfmod-bench-"))
    try:
        tree = _copy_stdlib(work)
        # Age the copy: files changed within the last seconds are always re-hashed.
        old = time.time() - 3600
        for path in tree.rglob("*.py"):
            os.utime(path, (old, old), follow_symlinks=False)
        cache = work / "index-cache"
        cold, index = _analyse(tree, cache)
        stats = index.stats  # type: ignore[attr-defined]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, tree {tree}")
        print(f"files {stats.files}, lines {stats.lines}, functions "
              f"{len(index.functions)}, skipped {len(index.problems)}")  # type: ignore[attr-defined]
        print(f"cold analysis: {cold:.2f} s, {stats.lines / cold:,.0f} lines/s")
        warm, _ = _analyse(tree, cache)
        print(f"unchanged re-analysis: {warm:.2f} s")
        changed = _change_files(tree, 10)
        incremental, index = _analyse(tree, cache)
        print(f"re-analysis after {len(changed)} files changed: {incremental:.2f} s "
              f"(parsed {index.stats.parsed})")  # type: ignore[attr-defined]
        venv_bin = Path(sys.executable).parent
        ruff = [str(venv_bin / "ruff"), "check", "--no-cache", "--exit-zero", "."]
        print(f"ruff check: {_time_tool(ruff, tree)}")
        print(f"bandit -r: {_time_tool([str(venv_bin / 'bandit'), '-r', '-q', '.'], tree)}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
