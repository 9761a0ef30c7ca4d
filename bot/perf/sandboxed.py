"""Tests, traces, equivalence checks and A/B benchmarks, each as one run in the sandbox.

The host stages a folder (the baseline tree `a/`, maybe a candidate tree `b/`, and our tools in
`_selfmod/`), runs `_selfmod/selfmod_driver.py` in the sandbox, and reads one JSON line back.
Nothing here imports or unpickles anything the repository produced: recorded inputs travel as
opaque base64 text from one sandbox run to the next.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from bot.errors import SandboxError
from bot.perf.decision import BehaviourCheck, Measurement
from bot.perf.stats import LOOKS, compare_pairs
from bot.sandbox.limits import SandboxLimits
from bot.sandbox.runner import SandboxRequest, SandboxResult

TOOLS = Path(__file__).with_name("tools")
STATS = Path(__file__).with_name("stats.py")
STAGE_TOOLS = "_selfmod"
MARKER = "SELFMOD-RESULT "
TRACE_OUT = f"{STAGE_TOOLS}/trace-out.json"
MAX_TRACE_BYTES = 64 * 1024 * 1024
_TOOL_FILES = ("selfmod_driver.py", "selfmod_trace.py", "selfmod_profile.py", "selfmod_calls.py",
               "selfmod_benchshim.py")


@dataclass(frozen=True)
class ProfileEntry:
    """One function's time in the profiled run, by file and line."""

    path: str
    line: int
    name: str
    calls: int
    own_seconds: float
    cumulative_seconds: float


@dataclass(frozen=True)
class TraceTarget:
    """A function whose calls the tracer records."""

    qualname: str
    path: str
    name: str
    first_line: int
    def_line: int

    @property
    def module(self) -> str:
        """Return the module's import name from its path (a `src/` layout is understood)."""
        rel = self.path.removeprefix("src/").removesuffix(".py")
        return rel.removesuffix("/__init__").replace("/", ".")

    @property
    def import_root(self) -> str:
        """Return the folder (relative to the tree) the module is imported from: "src" or ""."""
        return "src" if self.path.startswith("src/") else ""

    @property
    def local(self) -> str:
        """Return the dotted path of the function inside its module."""
        return self.qualname.removeprefix(self.module + ".")


@dataclass(frozen=True)
class TraceSamples:
    """What the tracer saw of one function: how often it ran and some inputs (opaque)."""

    calls: int
    samples: tuple[str, ...]
    unpicklable: int = 0


@dataclass(frozen=True)
class TestRun:
    """The outcome of the test command in one tree."""

    exit_code: int
    passed: int
    failed: tuple[str, ...]
    skipped: int
    wall_seconds: float
    log_tail: str
    has_junit: bool
    killed_reason: str | None = None
    profile: tuple[ProfileEntry, ...] = ()
    trace: Mapping[str, TraceSamples] = field(default_factory=dict)
    scope: str = "full"  # "full": the whole test command; "targeted": selected test files

    @property
    def succeeded(self) -> bool:
        """Tell whether every test passed (pytest's 5, no tests collected, is not success)."""
        return self.exit_code == 0 and self.killed_reason is None

    def failing_names(self) -> tuple[str, ...]:
        """Return the failing tests' names, or why the run as a whole failed."""
        if self.failed:
            return self.failed
        if self.killed_reason is not None:
            return (f"(the test run was killed: {self.killed_reason})",)
        if self.exit_code != 0:
            return (f"(the test command exited with {self.exit_code})",)
        return ()


@dataclass(frozen=True)
class BenchPlan:
    """How to measure one suggestion: a command, benchmark tests, or recorded calls."""

    kind: str  # "command", "pytest-benchmark" or "micro"
    command: str | None = None
    files: tuple[str, ...] = ()
    target: TraceTarget | None = None
    samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class MeasureSettings:
    """How long and how tightly to measure."""

    min_pairs: int = 8  # the fewest the signed-rank test can decide on (stats.ALPHA)
    max_pairs: int = 30
    budget_seconds: float = 20.0  # twice this for a slowdown not yet proven (stats)
    half_width: float = 0.03
    run_seconds: float = 0.2
    run_timeout: float = 120.0
    looks: tuple[int, ...] = LOOKS  # pair counts at which the interval may stop measuring


class SandboxRuns(Protocol):
    """What runs one request in the sandbox: a `SandboxRunner`, or a warm `SandboxSession`."""

    async def run(self, request: SandboxRequest) -> SandboxResult:
        """Run the request and return what it did."""


class PerfSandbox:
    """Run the driver's tasks in the sandbox and turn their JSON into typed results."""

    def __init__(self, runner: SandboxRuns, image: str, *,
                 limits: SandboxLimits | None = None, session_id: uuid.UUID | None = None,
                 measure: MeasureSettings | None = None, max_calls: int = 20,
                 max_sample_bytes: int = 4 * 1024 * 1024,
                 max_trace_bytes: int = 32 * 1024 * 1024) -> None:
        self._runner = runner
        self._image = image
        self._limits = limits or SandboxLimits()
        self._session_id = session_id
        self._measure = measure or MeasureSettings()
        self._max_calls = max_calls
        self._max_sample_bytes = max_sample_bytes
        self._max_trace_bytes = max_trace_bytes

    async def run_tests(self, tree: Path, command: str, *, profile: bool = False,
                        trace: Sequence[TraceTarget] = (), select: Sequence[str] = (),
                        modification_id: uuid.UUID | None = None) -> TestRun:
        """Run the test command in a copy of tree, optionally profiled, traced or cut down.

        `select` names tests (pytest ids, relative paths) appended to a pytest command.
        """
        is_pytest = "pytest" in command.split()
        if select and not is_pytest:
            raise SandboxError("test files can only be selected for a pytest command")
        spec = {"tree": "a", "command": command, "pytest": is_pytest, "profile": profile,
                "select": [f"./{path}" for path in select],
                "timeout": self._limits.timeout * 0.95, "max_calls": self._max_calls,
                "max_bytes": self._max_sample_bytes, "total_bytes": self._max_trace_bytes,
                "trace": [{"key": t.qualname, "path": t.path, "name": t.name,
                           "first": t.first_line, "last": t.def_line} for t in trace]}
        fetched: dict[str, Any] = {}
        result, data = await self._drive("tests", {"a": tree}, spec, "unit_test",
                                         modification_id, fetch=TRACE_OUT if trace else None,
                                         fetched=fetched)
        if data is None:
            return TestRun(result.exit_code, 0, (), 0, result.wall_time,
                           result.stderr[-2000:], False,
                           killed_reason=_why_no_result(result))
        return replace(build_test_run(data), trace=build_trace(fetched.get(TRACE_OUT)))

    async def check_behaviour(self, baseline: Path, candidate: Path,
                              targets: Sequence[TraceTarget],
                              samples: Mapping[str, TraceSamples],
                              modification_id: uuid.UUID | None = None
                              ) -> tuple[BehaviourCheck, ...]:
        """Call original and changed functions on the recorded inputs; return one check each."""
        entries = [{"key": t.qualname, "module": t.module, "local": t.local, "path": t.path,
                    "root": t.import_root,
                    "original_source": f"../a/{t.path}",
                    "samples": list(samples[t.qualname].samples)}
                   for t in targets if t.qualname in samples and samples[t.qualname].samples]
        if not entries:
            return tuple(BehaviourCheck(t.qualname, samples.get(t.qualname, _NONE).calls, 0)
                         for t in targets)
        spec = {"candidate": "b", "functions": entries, "timeout": self._limits.timeout * 0.9}
        result, data = await self._drive("equiv", {"a": baseline, "b": candidate}, spec,
                                         "equivalence", modification_id)
        reports = (data or {}).get("functions")
        if not isinstance(reports, dict):
            raise SandboxError("the equivalence check gave no result: "
                               + (_why_no_result(result) or (data or {}).get("log_tail", "")))
        return tuple(build_behaviour_check(t, samples.get(t.qualname, _NONE),
                                           reports.get(t.qualname)) for t in targets)

    async def measure(self, baseline: Path, candidate: Path, plan: BenchPlan,
                      modification_id: uuid.UUID | None = None, *,
                      threshold: float | None = None) -> Measurement | None:
        """Interleave baseline and candidate runs; None when too few runs succeeded.

        `threshold` (a performance suggestion's required improvement) lets the runs stop once
        the interval settles the decision either way; without it only a slowdown is sought.
        """
        m = self._measure
        spec: dict[str, Any] = {
            "threshold": threshold, "looks": list(m.looks),
            "kind": plan.kind, "baseline": "a", "candidate": "b", "min_pairs": m.min_pairs,
            "max_pairs": m.max_pairs, "budget_seconds": m.budget_seconds,
            "half_width": m.half_width, "run_seconds": m.run_seconds,
            "run_timeout": m.run_timeout, "command": plan.command, "files": list(plan.files)}
        if plan.target is not None:
            spec["micro"] = {"module": plan.target.module, "local": plan.target.local,
                             "root": plan.target.import_root, "samples": list(plan.samples)}
        limits = replace(self._limits, timeout=2 * m.budget_seconds + 3 * m.run_timeout)
        result, data = await self._drive("ab", {"a": baseline, "b": candidate}, spec,
                                         "benchmark", modification_id, limits=limits)
        if data is None:
            raise SandboxError(f"the benchmark gave no result: {_why_no_result(result)}")
        return build_measurement(data, plan.kind, m.min_pairs)

    async def _drive(self, task: str, trees: Mapping[str, Path], spec: Mapping[str, Any],
                     execution_type: str, modification_id: uuid.UUID | None, *,
                     limits: SandboxLimits | None = None, fetch: str | None = None,
                     fetched: dict[str, Any] | None = None
                     ) -> tuple[SandboxResult, dict[str, Any] | None]:
        """Run one driver task; with `fetch`, read that JSON file back from the work copy."""
        with tempfile.TemporaryDirectory(prefix="selfmod-stage-") as folder:
            stage = Path(folder) / "stage"
            stage.mkdir()
            for name, tree in trees.items():
                shutil.copytree(tree, stage / name, symlinks=True)
            stage_tools(stage / STAGE_TOOLS)
            (stage / STAGE_TOOLS / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
            request = SandboxRequest(
                workdir=stage, image=self._image, limits=limits or self._limits,
                command=["python", f"{STAGE_TOOLS}/selfmod_driver.py", task,
                         f"{STAGE_TOOLS}/spec.json"],
                execution_type=execution_type, modification_id=modification_id,
                session_id=self._session_id,
                write_back=Path(folder) / "back" if fetch else None)
            result = await self._runner.run(request)
            if fetch and fetched is not None:
                fetched[fetch] = read_json_file(Path(folder) / "back" / fetch)
        return result, parse_result_line(result.stdout)


_NONE = TraceSamples(0, ())


def stage_tools(target: Path) -> None:
    """Copy the sandbox tools and the statistics module into target."""
    target.mkdir()
    for name in _TOOL_FILES:
        shutil.copyfile(TOOLS / name, target / name)
    shutil.copyfile(STATS, target / "stats.py")


def read_json_file(path: Path) -> Any:
    """Return a JSON file the sandbox wrote (plain data, size-capped), or None."""
    try:
        if path.is_symlink() or path.stat().st_size > MAX_TRACE_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def parse_result_line(stdout: str) -> dict[str, Any] | None:
    """Return the driver's result from its last marked line, or None when there is none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                data = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def _why_no_result(result: SandboxResult) -> str:
    if result.killed_reason is not None:
        return str(result.killed_reason.value)
    return f"exit {result.exit_code}: {result.stderr[-300:].strip()}"


def build_test_run(data: Mapping[str, Any]) -> TestRun:
    """Return the typed test run from the driver's JSON (which the repository could shape)."""
    failed = data.get("failed")
    return TestRun(
        exit_code=_int(data.get("exit_code"), 1),
        passed=_int(data.get("passed"), 0),
        failed=tuple(str(n) for n in failed) if isinstance(failed, list) else (),
        skipped=_int(data.get("skipped"), 0),
        wall_seconds=_float(data.get("wall_seconds")),
        log_tail=str(data.get("log_tail", ""))[-4000:],
        has_junit=bool(data.get("junit")),
        profile=build_profile(data.get("profile")),
        trace=build_trace(data.get("trace")),
    )


def build_profile(raw: Any) -> tuple[ProfileEntry, ...]:
    """Return the profile entries that are well formed."""
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            found.append(ProfileEntry(item["path"], _int(item.get("line"), 0),
                                      str(item.get("name", "")), _int(item.get("calls"), 0),
                                      _float(item.get("own_seconds")),
                                      _float(item.get("cumulative_seconds"))))
    return tuple(found)


def build_trace(raw: Any) -> dict[str, TraceSamples]:
    """Return the tracer's samples by function."""
    if not isinstance(raw, dict):
        return {}
    found = {}
    for key, item in raw.items():
        if isinstance(item, dict):
            samples = item.get("samples")
            found[str(key)] = TraceSamples(
                _int(item.get("calls"), 0),
                tuple(s for s in samples if isinstance(s, str)) if isinstance(samples, list)
                else (), _int(item.get("unpicklable"), 0))
    return found


def build_behaviour_check(target: TraceTarget, samples: TraceSamples,
                          report: Any) -> BehaviourCheck:
    """Return the check of one function from the harness's report."""
    if not isinstance(report, dict):
        return BehaviourCheck(target.qualname, samples.calls, 0)
    if report.get("error"):
        return BehaviourCheck(target.qualname, samples.calls, 0,
                              note=str(report["error"])[:500])
    mismatch = report.get("mismatch")
    shown = ({k: str(mismatch.get(k, ""))[:1000] for k in ("input", "original", "changed")}
             if isinstance(mismatch, dict) else None)
    return BehaviourCheck(target.qualname, samples.calls, _int(report.get("compared"), 0),
                          shown)


def build_measurement(data: Mapping[str, Any], method: str, min_pairs: int) -> Measurement | None:
    """Return the measurement from the driver's raw timings, or None with too few pairs."""
    raw = data.get("pairs")
    pairs = [(float(p[0]), float(p[1])) for p in raw if _is_pair(p)] if isinstance(
        raw, list) else []
    if len(pairs) < min_pairs:
        return None
    mem_a, mem_b = _numbers(data.get("memory_a")), _numbers(data.get("memory_b"))
    return Measurement(
        comparison=compare_pairs(pairs),
        method=method,
        memory_baseline=_median(mem_a),
        memory_candidate=_median(mem_b),
        error_rate_baseline=_rate(data, "a"),
        error_rate_candidate=_rate(data, "b"),
    )


def _rate(data: Mapping[str, Any], side: str) -> float:
    calls = _int(data.get(f"calls_{side}"), 0)
    errors = _int(data.get(f"errors_{side}"), 0)
    runs = len(_numbers(data.get(f"memory_{side}")))
    failures = _int(data.get(f"failures_{side}"), 0)
    # Errors inside calls (micro) or whole failed runs (commands), as a share of attempts.
    return (errors + failures) / max(1, calls + failures if calls else runs + failures)


def _is_pair(item: Any) -> bool:
    return (isinstance(item, list) and len(item) == 2
            and all(isinstance(v, (int, float)) and v > 0 for v in item))


def _numbers(raw: Any) -> list[float]:
    return [float(v) for v in raw if isinstance(v, (int, float))] if isinstance(raw, list) else []


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else (
        default)


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0
