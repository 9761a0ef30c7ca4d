"""The local pipeline: analyse, generate, validate, test, benchmark, decide, commit.

Stage order follows codeflash: discover → generate → verify → benchmark → pure gates →
publish. Everything that runs the repository's code goes through `PerfSandbox`; git, the
database and the terminal are reached through the small interfaces passed in.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from bot.analysis.hotspots import rank_hot_spots
from bot.analysis.index import build_index
from bot.analysis.model import CodebaseIndex
from bot.analysis.repoconfig import RepoConfig
from bot.engine.gitrepo import CommitRequest, CommitWriter, apply_changes, export_commit
from bot.engine.record import SessionStore
from bot.generate.generator import GeneratorConfig, generate_suggestions
from bot.generate.llm import LLMProvider, build_llm_targets
from bot.generate.suggestion import ModificationType, Suggestion
from bot.learning.adapt import (
    LearnedRun,
    Learning,
    build_examples_text,
    refuse,
    select_candidates,
)
from bot.perf.decision import (
    BEHAVIOUR_PRESERVING,
    Decision,
    Evidence,
    Reason,
    Rejection,
    Thresholds,
    decide,
)
from bot.perf.profile import FunctionTime, map_profile, merge_ranking, rank_by_profile
from bot.perf.sandboxed import BenchPlan, PerfSandbox, TestRun, TraceSamples, TraceTarget
from bot.safety.checks import Policy
from bot.safety.score import SafetyLevel
from bot.safety.validate import validate
from bot.store.models import ModificationStatus
from bot.vcs.message import CommitFacts
from bot.vcs.message import build_commit_message as build_vcs_message
from bot.vcs.safegit import SafeGit

# A run whose tests pass nowhere before any change: nothing could be verified.
BASELINE_FAILED = "baseline_failed"
STAGES = ("setup", "analysis", "generation", "validation", "sandbox_tests", "benchmarks",
          "commit")
BRANCH_PREFIX = "self-mod/"
UNVERIFIED_NOTE = ("unverified: the repository has no tests, so nothing ran this refactor "
                   "(allowed by allow_unverified_refactors)")
_MAX_SELECTED = 300  # more selected tests than this: the whole suite is about as quick


class Progress(Protocol):
    """Where the pipeline says what it is doing now."""

    def __call__(self, stage: str, detail: str) -> None:
        """Report the stage and what runs in it."""


@dataclass(frozen=True)
class RunOptions:
    """What the caller asks of one run."""

    goals: tuple[str, ...] | None = None
    safety_level: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_candidates: int = 10
    allow_unverified: bool = False
    # Generation budget: the rules run over the modules holding the hottest functions only.
    generation_modules: int = 6


@dataclass
class Outcome:
    """Everything known about one suggestion at the end."""

    suggestion: Suggestion
    decision: Decision
    evidence: Evidence
    tests: TestRun | None = None
    plan: BenchPlan | None = None
    branch: str | None = None
    commit: str | None = None


@dataclass
class RunResult:
    """The whole run, for the report and the database."""

    repository: str
    commit: str
    goals: tuple[str, ...]
    safety_level: str
    status: str = "completed"
    reason: str | None = None
    baseline: TestRun | None = None
    profile: dict[str, FunctionTime] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    session_id: str | None = None
    learning: LearnedRun | None = None


class Pipeline:
    """One local run over one repository."""

    def __init__(self, *, perf: PerfSandbox, writer: CommitWriter, store: SessionStore | None,
                 llm: LLMProvider | None, progress: Progress, cache_dir: Path | None,
                 clock: Callable[[], float] = time.perf_counter,
                 learning: Learning | None = None) -> None:
        self.perf = perf
        self.learning = learning
        self.writer = writer
        self.store = store
        self.llm = llm
        self.progress = progress
        self.cache_dir = cache_dir
        self.clock = clock

    @contextmanager
    def _stage(self, result: RunResult, name: str) -> Iterator[None]:
        started = self.clock()
        try:
            yield
        finally:
            result.stages[name] += self.clock() - started

    async def run(self, repo: Path, head: str, base: Path, config: RepoConfig,
                  options: RunOptions, result: RunResult) -> RunResult:
        """Run every stage on the snapshot `base` of commit `head` of `repo`."""
        with self._stage(result, "analysis"):
            self.progress("analysis", "indexing the code")
            # The slow synchronous steps run in a thread: the same pipeline serves the REST
            # API inside the web server, whose event loop must go on answering webhooks.
            index = await asyncio.to_thread(
                build_index, base, cache_dir=self.cache_dir, cache_key=str(repo.resolve()),
                config=config)
            if self.learning is not None:
                # What this repository's reviewers taught: suppressed rules, constraints.
                result.learning = await self.learning.start(str(repo), index.conventions)
                stricter = result.learning.constraints.min_improvement
                if stricter is not None and stricter > options.thresholds.min_improvement:
                    options = replace(options, thresholds=replace(options.thresholds,
                                                                  min_improvement=stricter))
        if not index.tests:
            if not (options.allow_unverified or config.allow_unverified_refactors):
                result.status = "no_tests"
                result.reason = ("the repository has no tests, so no change could be verified; "
                                 "no proposal is made (allow_unverified_refactors in "
                                 ".github/selfmod.yml lifts this for refactors)")
                return result
            await self._unverified(repo, head, base, index, result, options)
            return result
        samples = await self._baseline(base, config, index, result, options)
        baseline = result.baseline
        if baseline is not None and baseline.passed == 0 and not baseline.succeeded:
            # Nothing passed (an import error at collection, a missing dependency): no change
            # could be proved, so say why instead of trying each one.
            result.status = BASELINE_FAILED
            result.reason = ("no test passed in the sandbox before any change ("
                             f"{'; '.join(baseline.failing_names()[:3])}), so nothing can be "
                             f"verified: {last_error_lines(baseline.log_tail)}")
            return result
        suggestions = await self._generate(base, index, result, options)
        survivors = await self._validate(suggestions, index, result, options)
        samples = await self._trace_missing(base, config, index, survivors, result, samples)
        for number, suggestion in enumerate(survivors, 1):
            outcome = await self._prove(base, config, index, suggestion, samples, result,
                                        options, f"{number}/{len(survivors)}")
            result.outcomes.append(outcome)
        await self._commit(repo, head, result)
        return result

    async def _unverified(self, repo: Path, head: str, base: Path, index: CodebaseIndex,
                          result: RunResult, options: RunOptions) -> None:
        """Propose refactors only, unrun (allowed by configuration for untested repositories)."""
        result.reason = ("the repository has no tests: only refactors are proposed, and nothing "
                         "ran them (allow_unverified_refactors)")
        suggestions = await self._generate(base, index, result, options)
        for suggestion in await self._validate(suggestions, index, result, options):
            score = suggestion.safety_score if suggestion.safety_score is not None else 1.0
            evidence = Evidence(suggestion.modification_type, score)
            decision = decide(evidence, options.thresholds)
            decision = replace(decision, notes=(*decision.notes, UNVERIFIED_NOTE))
            await self._record(suggestion, decision, evidence, None, None)
            result.outcomes.append(Outcome(suggestion, decision, evidence))
        await self._commit(repo, head, result)

    async def _baseline(self, base: Path, config: RepoConfig, index: CodebaseIndex,
                        result: RunResult, options: RunOptions) -> dict[str, TraceSamples]:
        """Run the tests once under the sampling profiler (no tracer: it slows every line)."""
        with self._stage(result, "sandbox_tests"):
            self.progress("sandbox_tests", "baseline tests under the sampling profiler")
            result.baseline = await self.perf.run_tests(base, config.test_command, profile=True)
        result.profile = map_profile(result.baseline.profile, index)
        return dict(result.baseline.trace)

    async def _generate(self, base: Path, index: CodebaseIndex, result: RunResult,
                        options: RunOptions) -> list[Suggestion]:
        await self._set_status(result, ModificationStatus.GENERATING)
        with self._stage(result, "generation"):
            self.progress("generation", "rule codemods" + (" and the LLM" if self.llm
                                                           and self.llm.enabled else ""))
            modules = choose_generation_modules(index, result.profile,
                                                options.generation_modules)
            found = await asyncio.to_thread(generate_suggestions, base, index, result.goals,
                                            GeneratorConfig(modules=frozenset(modules)))
            if self.llm is not None and self.llm.enabled and (
                    "improve_performance" in result.goals):
                targets = build_llm_targets(base, index)
                if result.learning is not None:
                    examples = build_examples_text(result.learning.profile.examples)
                    targets = [replace(t, examples=examples) for t in targets]
                order = rank_by_profile([t.qualname for t in targets], result.profile)
                targets.sort(key=lambda t: order.index(t.qualname))
                proposed, _ = await self.llm.propose(targets)
                found.extend(proposed)
        names = rank_by_profile(list(dict.fromkeys(s.target_symbols[0] for s in found
                                                   if s.target_symbols)), result.profile)
        self.progress("generation", f"{len(found)} suggestion(s) from {len(modules)} module(s)")
        found.sort(key=lambda s: names.index(s.target_symbols[0]) if s.target_symbols
                   else len(names))
        if result.learning is not None:
            found = select_candidates(result.learning, found)
        if not index.tests:
            # Allowed only by configuration, and only for changes that promise no new behaviour.
            found = [s for s in found if s.modification_type is ModificationType.REFACTOR]
        return found[:options.max_candidates]

    async def _validate(self, suggestions: Sequence[Suggestion], index: CodebaseIndex,
                        result: RunResult, options: RunOptions) -> list[Suggestion]:
        await self._set_status(result, ModificationStatus.VALIDATING)
        level = SafetyLevel(result.safety_level)
        policy = Policy(own_modules=frozenset(m.split(".")[0] for m in index.modules))
        survivors = []
        with self._stage(result, "validation"):
            for suggestion in suggestions:
                self.progress("validation", suggestion.title)
                checked, verdict = await asyncio.to_thread(validate, suggestion, policy, level)
                if self.store is not None and result.session_id is not None:
                    import uuid

                    await self.store.add_suggestion(uuid.UUID(result.session_id), checked)
                learned = refuse(result.learning, checked) if result.learning else ()
                if verdict.accepted and not learned:
                    survivors.append(checked)
                    continue
                evidence = Evidence(checked.modification_type, verdict.score)
                detail = (f"safety score {verdict.score:.2f} under {level.threshold} "
                          f"({level.value}): " + "; ".join(verdict.reasons)
                          if not verdict.accepted else
                          "breaks what this repository taught: " + "; ".join(learned))
                decision = Decision(False, (Rejection(Reason.UNSAFE, detail),),
                                    verdict.score, None)
                await self._record(checked, decision, evidence, None, None)
                result.outcomes.append(Outcome(checked, decision, evidence))
        return survivors

    async def _trace_missing(self, base: Path, config: RepoConfig, index: CodebaseIndex,
                             suggestions: Sequence[Suggestion], result: RunResult,
                             samples: dict[str, TraceSamples]) -> dict[str, TraceSamples]:
        """Record the inputs of the changed functions, running only the tests that reach them."""
        targets = [t for t in build_trace_targets(index, suggestions) if t.qualname not in samples]
        if not targets:
            return samples
        await self._set_status(result, ModificationStatus.TESTING)
        select = build_test_selection(index, config.test_command, targets)
        with self._stage(result, "sandbox_tests"):
            self.progress("sandbox_tests", f"recording the inputs of {len(targets)} more "
                          "function(s)")
            run = await self.perf.run_tests(base, config.test_command, trace=targets,
                                            select=select or ())
        return {**samples, **run.trace}

    async def _prove(self, base: Path, config: RepoConfig, index: CodebaseIndex,
                     suggestion: Suggestion, samples: dict[str, TraceSamples],
                     result: RunResult, options: RunOptions, counter: str) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="selfmod-candidate-") as folder:
            candidate = Path(folder) / "tree"
            shutil.copytree(base, candidate, symlinks=True)
            apply_changes(candidate, suggestion.files)
            return await self._prove_in(base, candidate, config, index, suggestion, samples,
                                        result, options, counter)

    async def _prove_in(self, base: Path, candidate: Path, config: RepoConfig,
                        index: CodebaseIndex, suggestion: Suggestion,
                        samples: dict[str, TraceSamples], result: RunResult,
                        options: RunOptions, counter: str) -> Outcome:
        score = suggestion.safety_score if suggestion.safety_score is not None else 1.0
        evidence = Evidence(suggestion.modification_type, score)
        targets = build_trace_targets(index, [suggestion])
        # The tests that reach the changed functions first; the whole suite only for a change
        # that passes everything else, before it is approved.
        select = build_test_selection(index, config.test_command, targets)
        with self._stage(result, "sandbox_tests"):
            tests = await self._test(candidate, config, suggestion, counter, select)
            evidence = self._with_tests(evidence, tests, result)
            if not evidence.failing_tests and targets and (
                    suggestion.modification_type in BEHAVIOUR_PRESERVING):
                self.progress("sandbox_tests", f"suggestion {counter}: behaviour on recorded "
                              "inputs")
                checks = await self.perf.check_behaviour(base, candidate, targets, samples,
                                                         modification_id=suggestion.id)
                evidence = replace(evidence, behaviour=checks)
        plan = None
        # Measure only what passed the tests and kept its behaviour.
        blocked = bool(evidence.failing_tests) or any(c.mismatch for c in evidence.behaviour)
        if not blocked:
            plan = discover_benchmark(config, index, targets, samples)
            if plan is not None:
                with self._stage(result, "benchmarks"):
                    self.progress("benchmarks", f"suggestion {counter}: A/B ({plan.kind}) — "
                                  f"{suggestion.title}")
                    threshold = (options.thresholds.min_improvement
                                 if suggestion.modification_type is ModificationType.PERFORMANCE
                                 else None)
                    measured = await self.perf.measure(base, candidate, plan,
                                                       modification_id=suggestion.id,
                                                       threshold=threshold)
                evidence = replace(evidence, measurement=measured)
        decision = decide(evidence, options.thresholds)
        if decision.approved and tests.scope == "targeted":
            with self._stage(result, "sandbox_tests"):
                tests = await self._test(candidate, config, suggestion, counter, None)
            evidence = self._with_tests(evidence, tests, result)
            decision = decide(evidence, options.thresholds)
        outcome = Outcome(suggestion, decision, evidence, tests, plan)
        await self._record(suggestion, decision, evidence, tests, plan)
        return outcome

    async def _test(self, candidate: Path, config: RepoConfig, suggestion: Suggestion,
                    counter: str, select: tuple[str, ...] | None) -> TestRun:
        """Run the selected tests (or, with none selected or none run, the whole suite)."""
        if select:
            self.progress("sandbox_tests", f"suggestion {counter}: {len(select)} test(s) "
                          f"reaching the change — {suggestion.title}")
            run = await self.perf.run_tests(candidate, config.test_command, select=select,
                                            modification_id=suggestion.id)
            if run.passed or run.failed:
                return replace(run, scope="targeted")
        self.progress("sandbox_tests", f"suggestion {counter}: the whole suite — "
                      f"{suggestion.title}")
        return await self.perf.run_tests(candidate, config.test_command,
                                         modification_id=suggestion.id)

    @staticmethod
    def _with_tests(evidence: Evidence, tests: TestRun, result: RunResult) -> Evidence:
        # Tests already failing before the change are not the change's fault.
        known = set(result.baseline.failing_names()) if result.baseline else set()
        failing = tuple(n for n in tests.failing_names() if n not in known)
        return replace(evidence, failing_tests=failing, tests_passed=tests.passed)

    async def _commit(self, repo: Path, head: str, result: RunResult) -> None:
        await self._set_status(result, ModificationStatus.PROPOSING)
        with self._stage(result, "commit"):
            for outcome in result.outcomes:
                if not outcome.decision.approved:
                    continue
                suggestion = outcome.suggestion
                branch = f"{BRANCH_PREFIX}{suggestion.id}"
                self.progress("commit", branch)
                message = build_commit_message(outcome, result.session_id)
                outcome.commit = await asyncio.to_thread(self.writer.write, repo, CommitRequest(
                    head, branch, suggestion.files, message))
                outcome.branch = branch
                if self.store is not None:
                    await self.store.set_branch(suggestion.id, branch, outcome.commit, head)

    async def _record(self, suggestion: Suggestion, decision: Decision, evidence: Evidence,
                      tests: TestRun | None, plan: BenchPlan | None) -> None:
        if self.store is None:
            return
        from bot.engine.report import build_evidence_json

        await self.store.decide(suggestion.id, decision,
                                build_evidence_json(evidence, tests, plan),
                                evidence.measurement)

    async def _set_status(self, result: RunResult, status: ModificationStatus) -> None:
        if self.store is not None and result.session_id is not None:
            import uuid

            await self.store.set_status(uuid.UUID(result.session_id), status)


def build_trace_targets(index: CodebaseIndex,
                        suggestions: Sequence[Suggestion]) -> list[TraceTarget]:
    """Return the functions the suggestions change, as the tracer needs them."""
    return build_function_targets(index, [name for suggestion in suggestions
                                          for name in suggestion.target_symbols])


def build_function_targets(index: CodebaseIndex, names: Sequence[str]) -> list[TraceTarget]:
    """Return trace targets for the named functions the tracer can watch."""
    found: dict[str, TraceTarget] = {}
    for name in names:
        function = index.function(name)
        if function is None or "<locals>" in name or function.is_async:
            continue
        found[name] = TraceTarget(name, function.path, function.name, function.first_line,
                                  function.span.start_line)
    return list(found.values())


def choose_generation_modules(index: CodebaseIndex, profile: dict[str, FunctionTime],
                              limit: int) -> list[str]:
    """Return the modules to generate for: where measured time goes, then static hot spots."""
    code = {name for name, module in index.modules.items()
            if not (module.is_test or module.is_benchmark)}
    static = [spot.qualname for spot in rank_hot_spots(index, max(limit * 4, 20))]
    chosen: dict[str, None] = {}
    for name in merge_ranking(profile, static, sorted(index.tested)):
        module = index.module_of(name)
        if module is not None and module.name in code:
            chosen.setdefault(module.name, None)
            if len(chosen) >= limit:
                return list(chosen)
    # Budget left (few hot spots, few tests): the other modules, in path order.
    rest = sorted((index.modules[name].path, name) for name in code if name not in chosen)
    chosen.update(dict.fromkeys(name for _, name in rest[:limit - len(chosen)]))
    return list(chosen)


def build_test_selection(index: CodebaseIndex, command: str,
                         targets: Sequence[TraceTarget]) -> tuple[str, ...] | None:
    """Return the pytest ids of the tests that reach the targets; None: run the whole suite."""
    if not is_selectable(command) or not targets:
        return None
    ids: set[str] = set()
    for target in targets:
        links = index.tests_for(target.qualname)
        if not links:
            return None  # something the call graph cannot see: run everything
        for link in links:
            test, module = index.function(link.test), index.module_of(link.test)
            if test is None or module is None:
                return None
            local = link.test.removeprefix(module.name + ".")
            ids.add("::".join([test.path, *local.split(".")]))
    return tuple(sorted(ids)) if 0 < len(ids) <= _MAX_SELECTED else None


def is_selectable(command: str) -> bool:
    """Tell whether test files can be appended: pytest with options only, no paths or values."""
    words = command.split()
    if "pytest" not in words:
        return False
    return all(word.startswith("-") for word in words[words.index("pytest") + 1:])


def discover_benchmark(config: RepoConfig, index: CodebaseIndex,
                       targets: Sequence[TraceTarget],
                       samples: dict[str, TraceSamples]) -> BenchPlan | None:
    """Choose the measurement: the configured command, benchmark tests, or recorded calls."""
    if config.benchmark_command:
        return BenchPlan("command", command=config.benchmark_command)
    benchmarked = [t for t in targets if t.qualname in index.benchmarked]
    if benchmarked:
        files = sorted({f.path for name in index.benchmarks
                        if (f := index.function(name)) is not None})
        return BenchPlan("pytest-benchmark", files=tuple(files))
    for target in targets:
        recorded = samples.get(target.qualname)
        if recorded is not None and recorded.samples:
            return BenchPlan("micro", target=target, samples=recorded.samples)
    return None


def build_commit_message(outcome: Outcome, session_id: str | None) -> str:
    """Return the self-modification message (unsigned: the writer adds the signature)."""
    s = outcome.suggestion
    body = [s.reasoning.strip()]
    m = outcome.evidence.measurement
    impact = None
    if m is not None:
        c = m.comparison
        impact = (f"{c.improvement:.1%} less time, 95% CI [{c.low:.1%}, {c.high:.1%}] "
                  f"({m.method}, {c.pairs} interleaved pairs)")
        body.append(f"Measured: {impact}.")
    if outcome.tests is not None:
        body.append(f"Tests in the sandbox: {outcome.tests.passed} passed.")
    body.append(f"Rule: {s.rule_id}.")
    score = min(1.0, max(0.0, outcome.decision.safety_score))
    return build_vcs_message(CommitFacts(str(s.id), s.title or f"selfmod: {s.rule_id}",
                                         "\n\n".join(b for b in body if b), session_id, score,
                                         impact))


def export_snapshot(repo: Path, head: str, dest: Path, git: SafeGit | None = None) -> int:
    """Write the commit's files to dest through SafeGit; return how many."""
    if git is not None:
        return export_commit(git, git.open(repo), head, dest)
    with SafeGit.create() as own:
        return export_commit(own, own.open(repo), head, dest)


def last_error_lines(log: str, *, lines: int = 4, limit: int = 600) -> str:
    """Return what a test log says went wrong: pytest's error lines ("E   ..."), else its end."""
    every = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line.removeprefix("E").strip() for line in every if line.startswith("E ")]
    kept = list(dict.fromkeys(errors))[-lines:] or every[-lines:]
    text = " | ".join(kept) or "the test command printed nothing"
    return text if len(text) <= limit else "..." + text[-limit:]
