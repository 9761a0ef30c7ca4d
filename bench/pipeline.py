"""Wall time of `selfmod run`, split by stage: prints figures, asserts nothing.

    .venv/bin/python -P bench/pipeline.py [--image selfmod-sandbox:latest] [--lines 5000]
                                          [--test-seconds 10] [--skip-fixtures]

1. the fixture repositories of tests/engine/fixtures (quadratic, trap_inputs, slowdown);
2. a generated repository of about --lines lines of Python (modules of small functions, one
   planted quadratic queue) whose tests take about --test-seconds on this machine.
Each is a fresh git repository; `selfmod run --json` runs as a user would start it, with a
fresh SQLite database. Goal: under 60 s for 5,000 lines with 10 s of tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "engine" / "fixtures"
STAGES = ("setup", "analysis", "generation", "validation", "sandbox_tests", "benchmarks",
          "commit")
_MODULE = '''"""Generated module {n}."""


'''
_FUNCTION = '''def f{n}_{i}(values, scale={i}):
    """Return scaled values above the mean."""
    total = 0
    for value in values:
        total += value
    mean = total / max(1, len(values))
    kept = []
    for value in values:
        if value * scale > mean:
            kept.append(value * scale)
    return kept


'''
_HOT = '''def drain(items):
    """Return the items in the order they were queued."""
    out = []
    queue = []
    for item in items:
        queue.append(item)
    while queue:
        out.append(queue.pop(0))
    return out
'''


def generate_repo(dest: Path, lines: int, test_seconds: float) -> Path:
    """Write a package of about `lines` lines and tests that take about `test_seconds`."""
    package = dest / "gen"
    (package / "tests").mkdir(parents=True)
    (package / "gen").mkdir()
    (package / "gen" / "__init__.py").write_text('"""A generated package."""\n')
    (package / "gen" / "hot.py").write_text('"""The planted hot spot."""\n\n\n' + _HOT)
    written, n = 12, 0
    while written < lines:
        body = _MODULE.format(n=n) + "".join(_FUNCTION.format(n=n, i=i) for i in range(10))
        (package / "gen" / f"mod{n}.py").write_text(body)
        written += body.count("\n")
        n += 1
    # Calibrate the busy work of the tests on this machine: 20 tests sharing test_seconds.
    loops = _loops_per_second()
    per_test = max(1, int(loops * test_seconds / 20))
    tests = ["from gen.hot import drain\n"] + [f"from gen.mod{m} import f{m}_1\n"
                                                for m in range(n)]
    tests.append("\n\ndef test_drain():\n    assert drain(list(range(20000)))[:2] == [0, 1]\n")
    for t in range(20):
        tests.append(f"\n\ndef test_busy_{t}():\n    total = 0\n    for i in range({per_test}):"
                     f"\n        total += i\n    assert total >= 0\n")
    for m in range(n):
        tests.append(f"\n\ndef test_mod{m}():\n    assert f{m}_1([1, 2, 3]) == [3]\n")
    (package / "tests" / "test_gen.py").write_text("".join(tests))
    return package


def _loops_per_second() -> float:
    # CPU time, not wall time: on a shared machine waiting for a core would shrink the tests.
    started = time.process_time()
    total = 0
    for i in range(2_000_000):
        total += i
    return 2_000_000 / (time.process_time() - started)


def git_init(repo: Path) -> None:
    """Commit the folder as a fresh repository."""
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit",
                  "-qm", "bench"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def run(repo: Path, image: str, work: Path) -> tuple[float, dict]:
    """Run `selfmod run --json` on repo; return the wall time and the report."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SELFMOD_", "DATABASE_URL", "OPENAI_", "GITHUB_"))}
    env.update(SELFMOD_SANDBOX_IMAGE=image, SELFMOD_DATA_DIR=str(work / "data"),
               DATABASE_URL=f"sqlite+aiosqlite:///{work / (repo.name + '.db')}")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run", str(repo), "--json"],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"selfmod run failed on {repo.name}: {done.stderr.strip()}")
    return wall, json.loads(done.stdout)


def show(name: str, lines: int, wall: float, report: dict) -> None:
    """Print one row: wall time, stages, what no stage covers, decisions, the load."""
    stages = " ".join(f"{s}={report['stages'].get(s, 0.0):.1f}" for s in STAGES)
    # Interpreter start, imports, database set-up and clean-up: outside every stage.
    other = wall - sum(report["stages"].get(s, 0.0) for s in STAGES)
    stages += f" other={other:.1f}"
    decisions = ", ".join(f"{s['rule_id']}:{s['status']}" for s in report["suggestions"])
    base = report["baseline_tests"] or {}
    print(f"{name:<12} {lines:>6} lines  wall {wall:6.1f} s  tests {base.get('seconds', 0):5.1f}"
          f" s  {stages}  [{decisions}]  load {_load()}")


def _load() -> str:
    """Return the 1, 5 and 15 minute load averages (the machine is shared)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="selfmod-sandbox:latest")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--test-seconds", type=float, default=10.0)
    parser.add_argument("--skip-fixtures", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="selfmod-bench-") as folder:
        work = Path(folder)
        print(f"{os.cpu_count()} cores, load {_load()} at the start")
        names = () if args.skip_fixtures else ("quadratic", "trap_inputs", "slowdown")
        for name in names:
            repo = work / name
            shutil.copytree(FIXTURES / name, repo)
            git_init(repo)
            lines = sum(p.read_text().count("\n") for p in repo.rglob("*.py"))
            show(name, lines, *run(repo, args.image, work))
        repo = generate_repo(work / "generated", args.lines, args.test_seconds)
        git_init(repo)
        lines = sum(p.read_text().count("\n") for p in repo.rglob("*.py"))
        show("generated", lines, *run(repo, args.image, work))


if __name__ == "__main__":
    main()
