"""The report of a local run: the documented JSON (docs/run-json.md) and a readable table."""

from __future__ import annotations

from typing import Any

from bot.engine.pipeline import BASELINE_FAILED, STAGES, Outcome, RunResult
from bot.perf.decision import Evidence
from bot.perf.sandboxed import BenchPlan, TestRun
from bot.store.models import ModificationStatus

REPORT_VERSION = 1
_PROFILE_TOP = 10


def build_evidence_json(evidence: Evidence, tests: TestRun | None,
                        plan: BenchPlan | None) -> dict[str, Any]:
    """Return a suggestion's evidence as JSON values."""
    m = evidence.measurement
    return {
        "tests": None if tests is None else {
            "passed": tests.passed, "failed": list(evidence.failing_tests or ()),
            "skipped": tests.skipped, "seconds": round(tests.wall_seconds, 3),
            "scope": tests.scope},
        "behaviour": [{"function": c.function, "recorded_calls": c.recorded_calls,
                       "compared": c.compared, "mismatch": c.mismatch, "note": c.note}
                      for c in evidence.behaviour],
        "benchmark": None if m is None else {
            "method": m.method, **m.comparison.to_json(),
            "memory_baseline_bytes": m.memory_baseline,
            "memory_candidate_bytes": m.memory_candidate,
            "memory_delta": m.memory_delta,
            "error_rate_baseline": m.error_rate_baseline,
            "error_rate_candidate": m.error_rate_candidate},
        "benchmark_method": plan.kind if plan else None,
    }


def build_outcome_json(outcome: Outcome) -> dict[str, Any]:
    """Return one suggestion's entry of the report."""
    s, d = outcome.suggestion, outcome.decision
    return {
        "id": str(s.id), "title": s.title, "rule_id": s.rule_id,
        "modification_type": s.modification_type.value,
        "files": [c.path for c in s.files], "target_symbols": list(s.target_symbols),
        "status": "approved" if d.approved else "rejected",
        "rejection_reasons": list(d.rejection_reasons),
        "rejections": d.to_json()["rejections"],
        "safety_score": d.safety_score, "performance_impact": d.performance_impact,
        "notes": list(d.notes),
        **build_evidence_json(outcome.evidence, outcome.tests, outcome.plan),
        "branch": outcome.branch, "commit": outcome.commit,
    }


def build_run_json(result: RunResult) -> dict[str, Any]:
    """Return the whole report (version 1, documented in docs/run-json.md)."""
    base = result.baseline
    approved = sum(1 for o in result.outcomes if o.decision.approved)
    profile = sorted(result.profile.values(), key=lambda t: -t.own_seconds)[:_PROFILE_TOP]
    return {
        "version": REPORT_VERSION,
        "session_id": result.session_id,
        "repository": result.repository,
        "commit": result.commit,
        "status": result.status,
        "reason": result.reason,
        "goals": list(result.goals),
        "safety_level": result.safety_level,
        "baseline_tests": None if base is None else {
            "passed": base.passed, "failed": list(base.failing_names()),
            "seconds": round(base.wall_seconds, 3)},
        "profile": [{"function": t.qualname, "calls": t.calls,
                     "own_seconds": round(t.own_seconds, 6),
                     "cumulative_seconds": round(t.cumulative_seconds, 6)} for t in profile],
        "stages": {name: round(result.stages.get(name, 0.0), 3) for name in STAGES},
        "suggestions": [build_outcome_json(o) for o in result.outcomes],
        "summary": {"suggestions": len(result.outcomes), "approved": approved,
                    "rejected": len(result.outcomes) - approved},
        "learning": result.learning.to_json() if result.learning is not None else None,
    }


def render_text(report: dict[str, Any]) -> str:
    """Return the report as a readable table."""
    lines = [f"selfmod run: {report['repository']} at {str(report['commit'])[:12]} "
             f"(session {report['session_id']})"]
    if report["reason"]:
        lines.append(f"status: {report['status']}: {report['reason']}")
    base = report["baseline_tests"]
    if base is not None:
        lines.append(f"baseline tests: {base['passed']} passed, {len(base['failed'])} failing, "
                     f"{base['seconds']:.1f} s")
    if report["profile"]:
        # Sampled, so calls are not counted: time in the function, and with what it calls.
        lines.append("profile of the tests (sampled): own time, with callees")
        lines += [f"  {p['own_seconds']:8.3f} s  {p['cumulative_seconds']:8.3f} s  "
                  f"{p['function']}" for p in report["profile"][:5]]
    lines.append("")
    header = f"{'decision':<9} {'time saved (95% CI)':<27} {'tests':<12} suggestion"
    lines += [header, "-" * len(header)]
    for item in report["suggestions"]:
        lines += _suggestion_lines(item)
    learning = report.get("learning") or {}
    for rule in learning.get("suppressed_rules") or []:
        area = f" in {rule['area']}" if rule.get("area") else ""
        lines.append(f"rule {rule['rule_id']} stopped firing{area}: {rule['reason']}")
    summary = report["summary"]
    lines.append("")
    lines.append(f"{summary['approved']} approved, {summary['rejected']} rejected; stages: "
                 + ", ".join(f"{k} {v:.1f}s" for k, v in report["stages"].items()))
    return "\n".join(lines)


def _suggestion_lines(item: dict[str, Any]) -> list[str]:
    bench = item["benchmark"]
    speed = "-" if bench is None else (
        f"{bench['improvement']:+.0%} [{bench['ci_low']:+.0%}, {bench['ci_high']:+.0%}]")
    tests = item["tests"]
    ran = "-" if tests is None else f"{tests['passed']} ok/{len(tests['failed'])} bad"
    lines = [f"{item['status']:<9} {speed:<27} {ran:<12} {item['title']}"]
    lines += [f"{'':<9} {r['reason']}: {r['detail'][:200]}" for r in item["rejections"]]
    lines += [f"{'':<9} note: {n}" for n in item["notes"]]
    if item["branch"]:
        lines.append(f"{'':<9} branch {item['branch']} ({str(item['commit'])[:12]})")
    return lines


def session_outcome(report: dict[str, Any]) -> tuple[ModificationStatus, str | None]:
    """Return how a finished run's session ends: failed, with why, when no test could run."""
    if report["status"] == BASELINE_FAILED:
        return ModificationStatus.FAILED, str(report["reason"])[:2000]
    return ModificationStatus.COMPLETED, None
