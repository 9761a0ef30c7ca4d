"""The one program the host starts in the sandbox: run tests or A/B benchmarks, print JSON.

    python _selfmod/selfmod_driver.py tests|equiv|ab SPEC
The repository's code runs in child processes whose output goes to files, so the last line of
this program's stdout is always its own `SELFMOD-RESULT {json}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import stats  # noqa: E402  (the host's bot/perf/stats.py, copied beside this file)

MARKER = "SELFMOD-RESULT "
SCRATCH = "/tmp/selfmod"
_SECONDS = re.compile(r"(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(ms|msec|s|sec|secs|seconds)\b")
_LOG_TAIL = 4000


def run_child(command: list[str], cwd: str, env: dict[str, str], timeout: float,
              log: str) -> tuple[int, float, int, float]:
    """Run a child with output to a log file; return (exit, wall seconds, peak KiB, CPU s)."""
    with open(log, "ab") as out:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        timer = threading.Timer(timeout, _kill_group, (child.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, wall, int(usage.ru_maxrss), usage.ru_utime + usage.ru_stime


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):  # already gone
        os.killpg(pid, 9)


def child_env(tree: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the children's environment: ours, with the tools and the tree's code importable.

    The repository is never installed in the sandbox (its code does not enter the image
    build), so a src/ layout's packages are put on the path, as an install would make them.
    """
    env = dict(os.environ)
    paths = [TOOLS, *([src] if (src := src_folder(tree)) else [])]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra or {})
    return env


def src_folder(tree: str) -> str | None:
    """Return tree/src when it holds importable code (a module, or a folder of modules)."""
    src = os.path.join(tree, "src")
    if os.path.islink(src) or not os.path.isdir(src):
        return None
    for entry in os.scandir(src):
        if entry.name.endswith(".py") and entry.is_file(follow_symlinks=False):
            return src
        if entry.is_dir(follow_symlinks=False) and any(
                name.endswith(".py") for name in os.listdir(entry.path)):
            return src
    return None


def tail(path: str) -> str:
    """Return the end of a log file."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - _LOG_TAIL))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def tests(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the test command in one tree, with junit, profile and tracer when asked."""
    tree = os.path.abspath(spec["tree"])
    command = shlex.split(spec["command"])
    extra: dict[str, str] = {}
    junit = os.path.join(SCRATCH, "junit.xml")
    profile_out = os.path.join(SCRATCH, "profile.json")
    # Inside the work copy: the host reads it back from there (too big for the output stream).
    trace_out = os.path.join(TOOLS, "trace-out.json")
    if spec.get("pytest"):
        command += ["-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1"]
        command += [str(path) for path in spec.get("select") or ()]
        if spec.get("trace"):
            trace_spec = os.path.join(SCRATCH, "trace-spec.json")
            targets = [dict(t, file=os.path.join(tree, t["path"])) for t in spec["trace"]]
            with open(trace_spec, "w", encoding="utf-8") as handle:
                json.dump({"targets": targets, "out": trace_out, "max_calls": spec["max_calls"],
                           "max_bytes": spec["max_bytes"], "total_bytes": spec["total_bytes"]},
                          handle)
            command += ["-p", "selfmod_trace"]
            extra["SELFMOD_TRACE_SPEC"] = trace_spec
    profiled = bool(spec.get("profile")) and command[0] in ("python", "python3")
    if profiled:
        command = [sys.executable, os.path.join(TOOLS, "selfmod_profile.py"), profile_out,
                   tree, *command[1:]]
    log = os.path.join(SCRATCH, "tests.log")
    code, wall, _, _ = run_child(command, tree, child_env(tree, extra), float(spec["timeout"]),
                                 log)
    result: dict[str, Any] = {"exit_code": code, "wall_seconds": wall, "log_tail": tail(log),
                              "profiled": profiled}
    result.update(read_junit(junit))
    result["profile"] = read_json(profile_out) if profiled else None
    return result


def read_json(path: str) -> Any:
    """Return a JSON file's content, or None when it is missing or broken."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def read_junit(path: str) -> dict[str, Any]:
    """Return passed, failed (names), skipped counts from a junit XML file."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {"junit": False, "passed": 0, "failed": [], "skipped": 0}
    passed, skipped, failed = 0, 0, []
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        name = case.get("name", "?")
        where = case.get("file") or case.get("classname", "")
        if "failure" in tags or "error" in tags:
            failed.append(f"{where}::{name}" if where else name)
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    return {"junit": True, "passed": passed, "failed": failed, "skipped": skipped}


def equiv(spec: dict[str, Any]) -> dict[str, Any]:
    """Compare original and changed functions on recorded inputs (in a child process)."""
    spec_path = os.path.join(SCRATCH, "equiv-spec.json")
    out = os.path.join(SCRATCH, "equiv.json")
    with open(spec_path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    log = os.path.join(SCRATCH, "equiv.log")
    command = [sys.executable, os.path.join(TOOLS, "selfmod_calls.py"), "equiv", spec_path, out]
    candidate = os.path.abspath(spec["candidate"])
    code, _, _, _ = run_child(command, candidate, child_env(candidate), float(spec["timeout"]),
                              log)
    return {"exit_code": code, "functions": read_json(out), "log_tail": tail(log)}


class Side:
    """One side of an A/B measurement: how to run it once and what it measured."""

    def __init__(self, name: str, tree: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.tree = os.path.abspath(tree)
        self.spec = spec
        self.errors = 0
        self.calls = 0
        self.failures = 0
        self.memory: list[int] = []

    def run(self, rounds: int) -> float | None:
        """Measure once; return seconds, or None when the run failed."""
        kind = self.spec["kind"]
        out = os.path.join(SCRATCH, f"measure-{self.name}.json")
        log = os.path.join(SCRATCH, f"measure-{self.name}.log")
        extra: dict[str, str] = {}
        if kind == "micro":
            spec_path = os.path.join(SCRATCH, f"micro-{self.name}.json")
            with open(spec_path, "w", encoding="utf-8") as handle:
                json.dump(dict(self.spec["micro"], rounds=rounds), handle)
            command = [sys.executable, os.path.join(TOOLS, "selfmod_calls.py"), "micro",
                       spec_path, out]
        elif kind == "pytest-benchmark":
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "-p", "selfmod_benchshim", "-p", "no:benchmark", *self.spec["files"]]
            extra = {"SELFMOD_BENCH_OUT": out, "SELFMOD_BENCH_ROUNDS": str(rounds)}
        else:
            command = shlex.split(self.spec["command"])
        with open(log, "wb"):
            pass
        code, _, peak, cpu = run_child(command, self.tree, child_env(self.tree, extra),
                                       float(self.spec["run_timeout"]), log)
        if code != 0:
            self.failures += 1
            return None
        self.memory.append(peak * 1024)
        if kind == "command":
            # The command's own figure when it prints one, else its CPU time (not wall time:
            # on a shared machine, waiting for a core is noise, not cost).
            return parse_seconds(tail(log)) or (cpu if cpu > 0 else None)
        data = read_json(out) or {}
        self.calls += int(data.get("calls", 1))
        self.errors += int(data.get("errors", 0))
        seconds = data.get("seconds")
        return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None


def parse_seconds(text: str) -> float | None:
    """Return the last duration a benchmark printed (`1.5 s`, `230 ms`), in seconds."""
    found = _SECONDS.findall(text)
    if not found:
        return None
    value, unit = found[-1]
    seconds = float(value) / (1000 if unit.startswith("ms") else 1)
    return seconds if seconds > 0 else None


def ab(spec: dict[str, Any]) -> dict[str, Any]:
    """Interleave baseline and candidate runs after a warm-up until settled or out of time."""
    a, b = Side("a", spec["baseline"], spec), Side("b", spec["candidate"], spec)
    started = time.perf_counter()
    rounds = calibrate(a, spec)
    b.run(rounds)  # the candidate's warm-up
    pairs: list[list[float]] = []
    stopped = "max_pairs"
    attempt = 0
    schedule = run_orders(a, b, random.SystemRandom())
    while len(pairs) < int(spec["max_pairs"]):
        order = next(schedule)
        attempt += 1
        values = {side.name: side.run(rounds) for side in order}
        if values["a"] is not None and values["b"] is not None:
            pairs.append([values["a"], values["b"]])
        if attempt >= 3 * int(spec["max_pairs"]):
            stopped = "failures"
            break
        enough = len(pairs) >= int(spec["min_pairs"])
        measured = [(x, y) for x, y in pairs]
        # The interval is consulted only at the fixed looks (see stats.decide_stop).
        looks = [int(n) for n in spec.get("looks") or stats.LOOKS]
        at_look = enough and len(pairs) in looks
        settled = stats.decide_stop(measured, threshold=spec.get("threshold"),
                                    looks=looks) if at_look else None
        if settled is not None:
            stopped = settled
            break
        if at_look and stats.is_tight(measured, half_width=float(spec["half_width"])):
            stopped = "tight"
            break
        if enough and stats.out_of_time(measured, elapsed=time.perf_counter() - started,
                                         budget=float(spec["budget_seconds"])):
            stopped = "budget"
            break
    return {"pairs": pairs, "rounds": rounds, "stopped": stopped,
            "memory_a": a.memory, "memory_b": b.memory, "errors_a": a.errors,
            "errors_b": b.errors, "calls_a": a.calls, "calls_b": b.calls,
            "failures_a": a.failures, "failures_b": b.failures,
            "log_a": tail(os.path.join(SCRATCH, "measure-a.log")),
            "log_b": tail(os.path.join(SCRATCH, "measure-b.log"))}


def run_orders(a: Side, b: Side, coin: random.Random) -> Iterator[tuple[Side, Side]]:
    """Yield each pair's run order, in blocks of two: A B + B A or B A + A B, drawn at random.

    Neither side runs first more often, and no periodic disturbance of the machine can line up
    with one side: with a fixed A B, B A alternation, identical code measured up to 5% apart.
    """
    while True:
        block = (a, b) if coin.random() < 0.5 else (b, a)
        yield block
        yield block[::-1]


def calibrate(side: Side, spec: dict[str, Any]) -> int:
    """Warm the baseline up and choose how many rounds make one run last long enough."""
    if spec["kind"] == "command":
        side.run(1)
        return 1
    # The fastest of two single rounds: the first may still pay for cold caches.
    first = min((t for t in (side.run(1), side.run(1)) if t), default=0.0)
    target = float(spec.get("run_seconds", 0.2))
    if first <= 0:
        return 1
    return max(1, min(100000, round(target / first)))


def main(argv: list[str]) -> int:
    """Run the task and print its result line."""
    task, spec_path = argv
    os.makedirs(SCRATCH, exist_ok=True)
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    result = {"tests": tests, "equiv": equiv, "ab": ab}[task](spec)
    sys.stdout.write("\n" + MARKER + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
