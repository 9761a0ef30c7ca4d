"""The text of a self-mod pull request: title, body, check-run summary and labels (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SELFMOD_LABEL = "selfmod"
CAREFUL_LABEL = "needs-careful-review"
REVERT_LABEL = "revert"
CHECK_NAME = "selfmod"
# Under this safety score, or over this many files, a change needs a careful reviewer.
CAREFUL_SCORE = 0.7
MANY_FILES = 5
# GitHub refuses bodies over 65,536 characters; the diff is cut well before.
MAX_BODY = 60_000
MAX_DIFF = 20_000
MAX_TITLE = 200
MARKER = "<!-- selfmod:modification {id} -->"

_TYPE_VERBS = {"bug_fix": "Fix", "refactor": "Refactor", "feature_add": "Add",
               "performance": "Speed up"}


@dataclass(frozen=True)
class FileStat:
    """Lines added and removed in one file."""

    path: str
    additions: int
    deletions: int


@dataclass(frozen=True)
class BenchmarkFacts:
    """An A/B benchmark as the pull request shows it."""

    method: str
    pairs: int
    baseline_seconds: float
    candidate_seconds: float
    improvement: float
    ci_low: float
    ci_high: float
    p_value: float
    memory_baseline_bytes: float | None = None
    memory_candidate_bytes: float | None = None

    @property
    def speedup(self) -> float:
        """Return baseline time over candidate time."""
        return self.baseline_seconds / self.candidate_seconds if self.candidate_seconds else 0.0


@dataclass(frozen=True)
class SandboxTestFacts:
    """The repository's tests run on the candidate in the sandbox."""

    passed: int
    failed: tuple[str, ...]
    skipped: int
    seconds: float


@dataclass(frozen=True)
class ProposalFacts:
    """Everything a self-mod pull request says about its change."""

    modification_id: str
    title: str
    modification_type: str
    rule_id: str
    reasoning: str
    target_symbols: tuple[str, ...]
    diff: str
    safety_score: float
    safety_reasons: tuple[str, ...] = ()
    safety_level: str = "conservative"
    tests: SandboxTestFacts | None = None
    benchmark: BenchmarkFacts | None = None
    notes: tuple[str, ...] = ()
    session_id: str | None = None

    @property
    def files(self) -> tuple[FileStat, ...]:
        """Return the files the diff touches with their line counts."""
        return build_file_stats(self.diff)


def build_facts(item: Mapping[str, Any], *, diff: str, reasoning: str,
                safety_reasons: Sequence[str] = (), safety_level: str = "conservative",
                session_id: str | None = None) -> ProposalFacts:
    """Return the facts of one suggestion of the run report (docs/run-json.md)."""
    tests = item.get("tests")
    bench = item.get("benchmark")
    return ProposalFacts(
        modification_id=str(item["id"]), title=str(item.get("title") or item["rule_id"]),
        modification_type=str(item["modification_type"]), rule_id=str(item["rule_id"]),
        reasoning=reasoning, target_symbols=tuple(item.get("target_symbols") or ()),
        diff=diff, safety_score=float(item.get("safety_score") or 0.0),
        safety_reasons=tuple(safety_reasons), safety_level=safety_level,
        tests=None if not tests else SandboxTestFacts(int(tests["passed"]), tuple(tests["failed"]),
                                               int(tests.get("skipped") or 0),
                                               float(tests.get("seconds") or 0.0)),
        benchmark=None if not bench else BenchmarkFacts(
            str(bench["method"]), int(bench["pairs"]), float(bench["baseline_median_seconds"]),
            float(bench["candidate_median_seconds"]), float(bench["improvement"]),
            float(bench["ci_low"]), float(bench["ci_high"]), float(bench["p_value"]),
            bench.get("memory_baseline_bytes"), bench.get("memory_candidate_bytes")),
        notes=tuple(item.get("notes") or ()), session_id=session_id)


def build_file_stats(diff: str) -> tuple[FileStat, ...]:
    """Count added and removed lines per file of a unified diff."""
    stats: dict[str, list[int]] = {}
    current: list[int] | None = None
    old_path = ""
    for line in diff.splitlines():
        if line.startswith("--- "):
            old_path = line[4:].removeprefix("a/")
            continue
        if line.startswith("+++ "):
            new = line[4:]
            path = old_path if new == "/dev/null" else new.removeprefix("b/")
            current = stats.setdefault(path, [0, 0])
            continue
        if current is None or line.startswith("@@"):
            continue
        if line.startswith("+"):
            current[0] += 1
        elif line.startswith("-"):
            current[1] += 1
    return tuple(FileStat(path, plus, minus) for path, (plus, minus) in stats.items())


def build_fingerprint(diff: str) -> str:
    """Return what makes two suggestions the same change: the diff without line numbers."""
    lines = [line for line in diff.splitlines() if not line.startswith("@@")]
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def _symbol(facts: ProposalFacts) -> str | None:
    if not facts.target_symbols:
        return None
    return facts.target_symbols[0].rsplit(".", 1)[-1] or None


def build_title(facts: ProposalFacts) -> str:
    """Return a title that says what the change gains, e.g. "Speed up `parse_rows` by 42%"."""
    symbol = _symbol(facts)
    bench = facts.benchmark
    if bench is not None and bench.improvement > 0:
        where = f"`{symbol}`" if symbol else "the hot path"
        title = f"Speed up {where} by {bench.improvement:.0%}"
    else:
        verb = _TYPE_VERBS.get(facts.modification_type, "Improve")
        title = _one_line(facts.title) or f"{verb} {symbol or facts.rule_id}"
        if facts.modification_type == "bug_fix" and not title.lower().startswith("fix"):
            title = f"Fix: {title}"
    return _cut(title, MAX_TITLE)


def needs_careful_review(facts: ProposalFacts) -> bool:
    """Tell whether a change is high-risk: a low safety score or many files."""
    return facts.safety_score < CAREFUL_SCORE or len(facts.files) > MANY_FILES


def build_labels(facts: ProposalFacts, extra: Sequence[str] = ()) -> list[str]:
    """Return the labels: selfmod, the change's type, the repository's own, careful review."""
    labels = [SELFMOD_LABEL, facts.modification_type.replace("_", "-"), *extra]
    if needs_careful_review(facts):
        labels.append(CAREFUL_LABEL)
    return list(dict.fromkeys(label for label in labels if label))


def build_impact(facts: ProposalFacts) -> str | None:
    """Return the measured impact for the commit trailer, or None when unmeasured."""
    bench = facts.benchmark
    if bench is None:
        return None
    return (f"{bench.improvement:.1%} less time (95% CI {bench.ci_low:.1%} to "
            f"{bench.ci_high:.1%}, {bench.pairs} pairs, {bench.method})")


def build_body(facts: ProposalFacts, *, limits_note: str | None = None) -> str:
    """Return the pull request's body: why, what, safety, tests, benchmark, how to decide."""
    parts = [
        MARKER.format(id=facts.modification_id),
        f"**Self-modification** `{facts.modification_id}` · rule `{facts.rule_id}` · "
        f"type {facts.modification_type}",
        "### Why\n\n" + (facts.reasoning.strip() or "_(no reasoning given)_"),
        build_diff_section(facts),
        build_safety_section(facts),
        build_tests_section(facts.tests),
        build_benchmark_section(facts.benchmark),
    ]
    if facts.notes:
        parts.append("### Notes\n\n" + "\n".join(f"- {n}" for n in facts.notes))
    if limits_note:
        parts.append(limits_note)
    parts.append(HOW_TO)
    return _fit("\n\n".join(parts), MAX_BODY)


HOW_TO = (
    "### How to decide\n\n"
    "- **Approve**: merge this pull request. Merging is the approval; selfmod records the "
    "change as applied.\n"
    "- **Reject**: close it without merging. selfmod will not propose the same change again.\n"
    "- **Roll back** after merging: comment `/selfmod rollback <reason>` on this pull request "
    "(write access needed). selfmod opens a revert pull request that quotes your reason.")


def build_diff_section(facts: ProposalFacts) -> str:
    """Return the files table and the (possibly cut) diff."""
    rows = ["| file | + | - |", "| --- | ---: | ---: |"]
    rows += [f"| `{f.path}` | {f.additions} | {f.deletions} |" for f in facts.files]
    diff = facts.diff
    cut = len(diff) > MAX_DIFF
    if cut:
        diff = diff[:MAX_DIFF].rsplit("\n", 1)[0] + "\n"
    fence = "````" if "```" in diff else "```"
    more = "\n\n_The diff is cut here; the full change is in the Files tab._" if cut else ""
    return ("### What changes\n\n" + "\n".join(rows) + "\n\n<details><summary>Diff</summary>"
            f"\n\n{fence}diff\n{diff}{fence}{more}\n\n</details>")


def build_safety_section(facts: ProposalFacts) -> str:
    """Return the safety score and its reasons."""
    risk = (" · **high risk: review carefully**" if needs_careful_review(facts) else "")
    lines = [f"### Safety: {facts.safety_score:.2f} / 1.00 ({facts.safety_level}){risk}"]
    if facts.safety_reasons:
        lines.append("")
        lines += [f"- {reason}" for reason in facts.safety_reasons]
    else:
        lines.append("\nNo static check raised a concern.")
    return "\n".join(lines)


def build_tests_section(tests: SandboxTestFacts | None) -> str:
    """Return the sandbox test results."""
    if tests is None:
        return "### Tests in the sandbox\n\nThe tests did not run for this change."
    verdict = "all passed" if not tests.failed else f"{len(tests.failed)} failed"
    lines = [f"### Tests in the sandbox\n\n{tests.passed} passed, {len(tests.failed)} failed, "
             f"{tests.skipped} skipped in {tests.seconds:.1f} s ({verdict}); no network, "
             "read-only root, resource limits."]
    lines += [f"- failed: `{name}`" for name in tests.failed[:20]]
    return "\n".join(lines)


def build_benchmark_section(bench: BenchmarkFacts | None) -> str:
    """Return the benchmark table and a Mermaid chart of the timings."""
    if bench is None:
        return "### Benchmark\n\nNot measured: this kind of change promises no speed-up."
    table = build_benchmark_table(bench)
    return (f"### Benchmark ({bench.method}, {bench.pairs} interleaved A/B pairs)\n\n{table}"
            f"\n\n{build_mermaid_chart(bench)}")


def build_benchmark_table(bench: BenchmarkFacts) -> str:
    """Return the table: baseline, candidate, speedup with its interval, memory, runs."""
    rows = ["| | baseline | candidate | change |", "| --- | ---: | ---: | --- |",
            f"| median time | {_duration(bench.baseline_seconds)} | "
            f"{_duration(bench.candidate_seconds)} | **{bench.speedup:.2f}x faster** "
            f"({bench.improvement:.1%} less time, 95% CI {bench.ci_low:.1%} to "
            f"{bench.ci_high:.1%}, p = {bench.p_value:.2g}) |"]
    if bench.memory_baseline_bytes and bench.memory_candidate_bytes is not None:
        delta = (bench.memory_candidate_bytes - bench.memory_baseline_bytes) \
            / bench.memory_baseline_bytes
        rows.append(f"| peak memory | {_mib(bench.memory_baseline_bytes)} | "
                    f"{_mib(bench.memory_candidate_bytes)} | {delta:+.1%} |")
    else:
        rows.append("| peak memory | n/a | n/a | not measured |")
    rows.append(f"| runs | {bench.pairs} | {bench.pairs} | interleaved pairs |")
    return "\n".join(rows)


def build_mermaid_chart(bench: BenchmarkFacts) -> str:
    """Return a Mermaid bar chart of the median timings in milliseconds."""
    base, cand = bench.baseline_seconds * 1000, bench.candidate_seconds * 1000
    top = max(base, cand) * 1.1 or 1.0
    return ("```mermaid\nxychart-beta\n    title \"Median time per run (ms)\"\n"
            "    x-axis [\"baseline\", \"candidate\"]\n"
            f"    y-axis \"milliseconds\" 0 --> {top:.4g}\n"
            f"    bar [{base:.4g}, {cand:.4g}]\n```")


def build_check_output(facts: ProposalFacts) -> dict[str, str]:
    """Return the `selfmod` check run's output: title and the same evidence as the body."""
    summary = "\n\n".join([build_safety_section(facts), build_tests_section(facts.tests),
                           build_benchmark_section(facts.benchmark)])
    return {"title": build_title(facts), "summary": _fit(summary, MAX_BODY)}


def build_revert_title(original_title: str) -> str:
    """Return the revert pull request's title."""
    return _cut(f"Revert \"{_one_line(original_title)}\"", MAX_TITLE)


def build_revert_body(*, modification_id: str, original_number: int, original_url: str | None,
                      reason: str, requested_by: str | None, merge_commit: str) -> str:
    """Return the revert pull request's body: what it undoes, and the reason quoted."""
    who = f"@{requested_by}" if requested_by else "selfmod (automatic)"
    quoted = "\n".join(f"> {line}" for line in reason.strip().splitlines()) or "> (no reason)"
    link = f"[#{original_number}]({original_url})" if original_url else f"#{original_number}"
    return _fit("\n\n".join([
        MARKER.format(id=modification_id),
        f"This reverts self-modification `{modification_id}` from {link} (merge commit "
        f"{merge_commit[:12]}) on top of the current default branch.",
        f"Rollback asked by {who}:\n\n{quoted}",
        "Merge this pull request to complete the rollback; close it to keep the change.",
    ]), MAX_BODY)


def build_revert_reply(revert_url: str, number: int) -> str:
    """Return the reply on the original pull request that links the revert."""
    return f"Opened the revert pull request #{number}: {revert_url}"


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _mib(size: float) -> str:
    return f"{size / (1024 * 1024):.2f} MiB"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit - 40] + "\n\n_(cut at GitHub's size limit)_"
