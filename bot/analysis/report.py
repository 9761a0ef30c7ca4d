"""The analysis report: the documented JSON of `selfmod analyze --json`, and its text form."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from bot.analysis.hotspots import rank_hot_spots
from bot.analysis.model import CodebaseIndex
from bot.analysis.repoconfig import RepoConfig
from bot.generate.suggestion import Suggestion

# Bump on any incompatible change of the shape documented in docs/analyze-json.md.
SCHEMA_VERSION = 1


def build_report(index: CodebaseIndex, config: RepoConfig, *, hot_spot_limit: int = 20,
                 suggestions: Sequence[Suggestion] = ()) -> dict[str, Any]:
    """Build the JSON report of an index (see docs/analyze-json.md)."""
    functions = index.functions.values()
    kinds = Counter(s.kind for s in index.public_api)
    return {
        "schema_version": SCHEMA_VERSION,
        "root": str(index.root),
        "summary": {
            "files": index.stats.files,
            "parsed": index.stats.parsed,
            "cached": index.stats.cached,
            "modules": len(index.modules),
            "classes": len(index.classes),
            "functions": len(index.functions),
            "lines": index.stats.lines,
            "tests": len(index.tests),
            "benchmarks": len(index.benchmarks),
            "functions_tested": sum(1 for f in functions if f.qualname in index.tested),
            "call_sites": sum(len(calls) for calls in index.call_records.values()),
            "resolved_call_sites": sum(len(c) for c in index.caller_records.values()),
            "seconds": index.stats.seconds,
        },
        "config": {**config.as_dict(), "source": config.source,
                   "warnings": list(config.warnings)},
        "conventions": {
            name: {"value": c.value, "confidence": c.confidence, "source": c.source,
                   "evidence": dict(c.evidence)}
            for name, c in index.conventions.as_dict().items()
        },
        "hot_spots": [
            {"qualname": h.qualname, "path": h.path, "start_line": h.span.start_line,
             "end_line": h.span.end_line, "score": h.score, "loop_depth": h.loop_depth,
             "lines": h.lines, "fan_in": h.fan_in, "complexity": h.complexity,
             "tested": h.tested, "benchmarked": h.benchmarked}
            for h in rank_hot_spots(index, hot_spot_limit)
        ],
        "public_api": {"count": len(index.public_api), "by_kind": dict(sorted(kinds.items())),
                       "symbols": [s.qualname for s in index.public_api if s.kind != "method"]},
        "problems": [{"path": p.path, "kind": p.kind.value, "message": p.message,
                      "line": p.line} for p in index.problems],
        "suggestions": [s.to_json() for s in suggestions],
    }


def render_text(report: dict[str, Any]) -> str:
    """Render the report for a terminal."""
    s = report["summary"]
    out = [f"{report['root']}: {s['files']} files, {s['lines']} lines, {s['modules']} modules, "
           f"{s['classes']} classes, {s['functions']} functions, {s['tests']} tests "
           f"({s['parsed']} parsed, {s['cached']} cached, {s['seconds']:.2f} s)",
           f"call sites: {s['call_sites']} ({s['resolved_call_sites']} resolved in the project);"
           f" functions reached by tests: {s['functions_tested']}",
           f"public API: {report['public_api']['count']} names", "", "Conventions:"]
    for name, c in report["conventions"].items():
        out.append(f"  {name:<16} {c['value']:<14} confidence {c['confidence']:.2f}"
                   f"  ({c['source']})")
    out += ["", "Hot spots:"]
    for h in report["hot_spots"]:
        flags = ("tested" if h["tested"] else "untested") + (
            ", benchmarked" if h["benchmarked"] else "")
        out.append(f"  {h['score']:>8.1f}  {h['qualname']}  {h['path']}:{h['start_line']}  "
                   f"loops {h['loop_depth']} deep, {h['lines']} lines, fan-in {h['fan_in']}, "
                   f"{flags}")
    if report["problems"]:
        out += ["", f"Skipped files ({len(report['problems'])}):"]
        out += [f"  {p['path']}:{p['line']}: {p['kind']}: {p['message']}"
                for p in report["problems"]]
    for warning in report["config"]["warnings"]:
        out.append(f"config warning: {warning}")
    out += ["", f"Suggestions: {len(report['suggestions'])}"]
    out += [f"  {x['rule_id']}: {x['title'] or x['reasoning'][:80]}" for x in report["suggestions"]]
    return "\n".join(out)
