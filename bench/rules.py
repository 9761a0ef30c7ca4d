"""Run every rule over the running Python's standard library and check the results still work.

For each rule: how many places it rewrote, in how many modules, and what fraction of the
rewritten modules still compile and still import (each import in its own subprocess, from a
temporary copy of the library with only that one module rewritten). Some standard modules
cannot be imported on their own even unmodified (platform modules, missing optional C
extensions, scripts); the import fraction is computed over the modules whose unmodified copy
imports, and the baseline is printed.

    .venv/bin/python bench/rules.py [--limit N] [--rules id,id] [--timeout S]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from bot.generate.conventions import Style
from bot.generate.rules import CATALOGUE, apply_rule
from bot.generate.rules.base import parse_source

# Packages and modules that are not library code, or whose import has effects on the host.
SKIP_PARTS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
              "idlelib", "turtledemo", "lib2to3", "ensurepip", "venv"}
SKIP_MODULES = {"antigravity", "this", "__main__", "__phello__"}
IMPORT_CHECK = """
import importlib, sys
sys.path.insert(0, {copy!r})
name = {name!r}
for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
    del sys.modules[loaded]
module = importlib.import_module(name)
assert module.__file__.startswith({copy!r}), module.__file__
"""


@dataclass
class RuleTally:
    """What one rule did across the library."""

    sites: int = 0
    modules: list[str] = field(default_factory=list)
    compiled: int = 0
    importable_base: int = 0
    imported: int = 0
    failures: list[str] = field(default_factory=list)


def library_modules(stdlib: Path) -> list[tuple[str, Path]]:
    """Return (dotted name, path) of the pure-Python modules of the standard library."""
    found = []
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib)
        if SKIP_PARTS & set(rel.parts[:-1]) or rel.stem in SKIP_MODULES:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and all(p.isidentifier() for p in parts):
            found.append((".".join(parts), rel))
    return found


def imports(copy: Path, name: str, timeout: float) -> bool:
    """Return whether `name` imports from the copy in a fresh interpreter."""
    try:
        done = subprocess.run([sys.executable, "-I", "-c", IMPORT_CHECK.format(copy=str(copy),
                                                                                name=name)],
                              capture_output=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL, cwd=copy)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def run(limit: int | None, rule_ids: set[str] | None, timeout: float) -> int:
    """Run the benchmark and print the table; return the process exit code."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rules = [r for r in CATALOGUE if rule_ids is None or r.info.rule_id in rule_ids]
    modules = library_modules(stdlib)[:limit]
    tallies = {r.info.rule_id: RuleTally() for r in rules}
    baseline: dict[str, bool] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="selfmod-bench-") as tmp:
        copy = Path(tmp) / "lib"
        shutil.copytree(stdlib, copy, ignore=shutil.ignore_patterns(
            "__pycache__", "site-packages", "*.pyc"), symlinks=True)
        parse_errors = 0
        for number, (name, rel) in enumerate(modules, 1):
            if number % 50 == 0:
                print(f"... {number}/{len(modules)} modules", file=sys.stderr, flush=True)
            source = (copy / rel).read_text(encoding="utf-8", errors="surrogateescape")
            try:
                parsed = parse_source(source)
            except (cst.ParserSyntaxError, SyntaxError, UnicodeError, RecursionError):
                parse_errors += 1
                continue
            for rule in rules:
                try:
                    result = apply_rule(rule, parsed, Style())
                except RecursionError:
                    # Deeply nested expressions exceed libcst's recursive code generation.
                    parse_errors += 1
                    break
                if not result.changed:
                    continue
                tally = tallies[rule.info.rule_id]
                tally.sites += len(result.sites)
                tally.modules.append(name)
                try:
                    compile(result.source, str(rel), "exec", dont_inherit=True)
                except SyntaxError as exc:
                    tally.failures.append(f"{name}: compile: {exc}")
                    continue
                tally.compiled += 1
                if name not in baseline:
                    baseline[name] = imports(copy, name, timeout)
                if not baseline[name]:
                    continue
                tally.importable_base += 1
                (copy / rel).write_text(result.source, encoding="utf-8",
                                        errors="surrogateescape")
                try:
                    if imports(copy, name, timeout):
                        tally.imported += 1
                    else:
                        tally.failures.append(f"{name}: import failed after the rewrite")
                finally:
                    (copy / rel).write_text(source, encoding="utf-8", errors="surrogateescape")
    _print(tallies, len(modules), parse_errors, baseline, time.perf_counter() - started)
    return 0 if all(not t.failures for t in tallies.values()) else 1


def _print(tallies: dict[str, RuleTally], modules: int, parse_errors: int,
           baseline: dict[str, bool], seconds: float) -> None:
    print(f"Python {sys.version.split()[0]}, {modules} standard-library modules scanned, "
          f"{parse_errors} not processed (libcst parse or recursion limit), {seconds:.0f}s")
    importable = sum(baseline.values())
    print(f"import baseline: {importable}/{len(baseline)} of the rewritten modules import "
          "unmodified (the others cannot be imported standalone on this host)")
    header = f"{'rule':<24}{'sites':>7}{'modules':>9}{'compile':>10}{'import':>14}"
    print(header)
    print("-" * len(header))
    for rule_id, t in tallies.items():
        compiled = f"{t.compiled}/{len(t.modules)}" if t.modules else "-"
        imported = f"{t.imported}/{t.importable_base}" if t.importable_base else "-"
        print(f"{rule_id:<24}{t.sites:>7}{len(t.modules):>9}{compiled:>10}{imported:>14}")
    total_mods = sum(len(t.modules) for t in tallies.values())
    total_compiled = sum(t.compiled for t in tallies.values())
    total_base = sum(t.importable_base for t in tallies.values())
    total_imported = sum(t.imported for t in tallies.values())
    print("-" * len(header))
    compiled_all = f"{total_compiled}/{total_mods}"
    imported_all = f"{total_imported}/{total_base}"
    print(f"{'all rules':<24}{sum(t.sites for t in tallies.values()):>7}{total_mods:>9}"
          f"{compiled_all:>10}{imported_all:>14}")
    for rule_id, t in tallies.items():
        for failure in t.failures:
            print(f"FAIL {rule_id}: {failure}")


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="scan only the first N modules")
    parser.add_argument("--rules", default=None, help="comma-separated rule ids (default all)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per import")
    args = parser.parse_args()
    rule_ids = set(args.rules.split(",")) if args.rules else None
    return run(args.limit, rule_ids, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
