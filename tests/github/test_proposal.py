"""The self-mod pull request's text and the limits on proposing, without I/O."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.github.limits import (
    Candidate,
    ProposalLimits,
    SkipReason,
    build_stale_comment,
    is_stale,
    plan_proposals,
)
from bot.github.proposal import (
    CAREFUL_LABEL,
    MAX_BODY,
    BenchmarkFacts,
    ProposalFacts,
    SandboxTestFacts,
    build_body,
    build_check_output,
    build_facts,
    build_file_stats,
    build_fingerprint,
    build_labels,
    build_revert_body,
    build_title,
)

DIFF = ("--- a/graphs/walk.py\n+++ b/graphs/walk.py\n@@ -1,3 +1,4 @@\n+from collections "
        "import deque\n def f():\n-    q = [1]\n+    q = deque([1])\n")
BENCH = BenchmarkFacts("micro", 30, 0.012, 0.0013, 0.89, 0.85, 0.91, 0.0001, 2_000_000,
                       1_900_000)


def facts(**changes: object) -> ProposalFacts:
    """Return facts of a proven performance change, with some fields replaced."""
    values: dict[str, object] = dict(
        modification_id="m-1", title="Use a deque", modification_type="performance",
        rule_id="perf.deque", reasoning="pop(0) is O(n).",
        target_symbols=("graphs.walk.breadth_first",), diff=DIFF, safety_score=0.92,
        tests=SandboxTestFacts(3, (), 0, 1.5), benchmark=BENCH)
    values.update(changes)
    return ProposalFacts(**values)  # type: ignore[arg-type]


class TestTitle:
    def test_performance_title_says_the_gain(self) -> None:
        """A measured speed-up is the title: "Speed up `name` by 89%"."""
        assert build_title(facts()) == "Speed up `breadth_first` by 89%"

    def test_bug_fix_title_says_fix(self) -> None:
        """An unmeasured bug fix is titled as a fix."""
        assert build_title(facts(modification_type="bug_fix", benchmark=None,
                                 title="Compare to None with is")) == (
            "Fix: Compare to None with is")

    def test_long_title_is_cut(self) -> None:
        """A title never exceeds 200 characters."""
        assert len(build_title(facts(benchmark=None, title="x " * 300))) <= 200


class TestBody:
    def test_body_has_every_section(self) -> None:
        """The body carries reasoning, diff, safety, tests, benchmark table, chart and how-to."""
        body = build_body(facts())
        for part in ("pop(0) is O(n).", "| `graphs/walk.py` | 2 | 1 |", "```diff",
                     "Safety: 0.92", "3 passed, 0 failed", "| median time | 12 ms | 1.3 ms |",
                     "95% CI 85.0% to 91.0%", "| peak memory | 1.91 MiB | 1.81 MiB | -5.0% |",
                     "| runs | 30 | 30 |", "```mermaid", "xychart-beta",
                     "/selfmod rollback <reason>", "merge this pull request",
                     "<!-- selfmod:modification m-1 -->"):
            assert part in body, part

    def test_huge_diff_is_cut_under_githubs_limit(self) -> None:
        """A diff of a megabyte still gives a body GitHub accepts."""
        body = build_body(facts(diff=DIFF + "+x\n" * 400_000))
        assert len(body) <= MAX_BODY and "The diff is cut here" in body

    def test_unmeasured_change_says_so(self) -> None:
        """Without a benchmark the body says it was not measured, and draws no chart."""
        body = build_body(facts(benchmark=None, modification_type="refactor"))
        assert "Not measured" in body and "mermaid" not in body

    def test_failed_tests_are_named(self) -> None:
        """Failing test names appear in the tests section."""
        body = build_body(facts(tests=SandboxTestFacts(2, ("test_a",), 0, 1.0)))
        assert "- failed: `test_a`" in body

    def test_check_output_repeats_the_evidence(self) -> None:
        """The check run's summary has the safety, tests and benchmark table."""
        output = build_check_output(facts())
        assert output["title"] == "Speed up `breadth_first` by 89%"
        assert "| median time |" in output["summary"] and "3 passed" in output["summary"]


class TestLabels:
    def test_safe_change_gets_selfmod_and_type(self) -> None:
        """A safe one-file change is labelled selfmod and its type."""
        assert build_labels(facts(), ["perf"]) == ["selfmod", "performance", "perf"]

    def test_low_score_needs_careful_review(self) -> None:
        """A score under 0.7 adds needs-careful-review."""
        assert CAREFUL_LABEL in build_labels(facts(safety_score=0.65))

    def test_many_files_need_careful_review(self) -> None:
        """More than five files add needs-careful-review."""
        diff = "".join(f"--- a/f{i}.py\n+++ b/f{i}.py\n@@ -1 +1 @@\n-a\n+b\n" for i in range(6))
        assert CAREFUL_LABEL in build_labels(facts(diff=diff))


class TestBuildFacts:
    def test_facts_from_the_run_report(self) -> None:
        """A suggestion of the run JSON becomes facts with its tests and benchmark."""
        item = {"id": "m-2", "title": "t", "modification_type": "performance",
                "rule_id": "r", "target_symbols": ["a.b"], "safety_score": 0.8,
                "tests": {"passed": 4, "failed": [], "skipped": 1, "seconds": 2.0},
                "benchmark": {"method": "micro", "pairs": 20, "baseline_median_seconds": 0.2,
                              "candidate_median_seconds": 0.1, "improvement": 0.5,
                              "ci_low": 0.4, "ci_high": 0.6, "p_value": 0.001}, "notes": []}
        built = build_facts(item, diff=DIFF, reasoning="why")
        assert built.tests == SandboxTestFacts(4, (), 1, 2.0)
        assert built.benchmark is not None and built.benchmark.speedup == 2.0
        assert build_title(built) == "Speed up `b` by 50%"

    def test_file_stats_count_deleted_files(self) -> None:
        """A deleted file is counted under its old name."""
        diff = "--- a/gone.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n"
        assert [(f.path, f.additions, f.deletions) for f in build_file_stats(diff)] == [
            ("gone.py", 0, 2)]


class TestFingerprint:
    def test_same_change_at_other_lines_is_the_same(self) -> None:
        """Moving the hunk to other line numbers keeps the fingerprint."""
        moved = DIFF.replace("@@ -1,3 +1,4 @@", "@@ -10,3 +10,4 @@")
        assert build_fingerprint(moved) == build_fingerprint(DIFF)

    def test_other_change_differs(self) -> None:
        """A different change has a different fingerprint."""
        assert build_fingerprint(DIFF.replace("deque([1])", "deque([2])")) != \
            build_fingerprint(DIFF)


class TestLimits:
    def test_duplicate_of_open_or_rejected_is_skipped(self) -> None:
        """A change matching an open or closed-unmerged one is not proposed again."""
        [verdict] = plan_proposals([Candidate("a", "f1")], open_count=0, recent_count=0,
                                   blocked={"f1"}, limits=ProposalLimits())
        assert (verdict.propose, verdict.reason) == (False, SkipReason.DUPLICATE)

    def test_open_limit_caps_proposals(self) -> None:
        """With two open and a limit of three, only one more is proposed."""
        verdicts = plan_proposals([Candidate("a", "1"), Candidate("b", "2")], open_count=2,
                                  recent_count=0, blocked=set(),
                                  limits=ProposalLimits(max_open=3, per_hour=10))
        assert [(v.propose, v.reason) for v in verdicts] == [
            (True, None), (False, SkipReason.OPEN_LIMIT)]

    def test_hourly_limit_caps_proposals(self) -> None:
        """Once the hour's quota is used, the rest wait."""
        verdicts = plan_proposals([Candidate("a", "1"), Candidate("b", "2")], open_count=0,
                                  recent_count=1, blocked=set(),
                                  limits=ProposalLimits(max_open=5, per_hour=2))
        assert [v.reason for v in verdicts] == [None, SkipReason.HOURLY_LIMIT]

    def test_two_identical_candidates_give_one_proposal(self) -> None:
        """The same change twice in one run is proposed once."""
        verdicts = plan_proposals([Candidate("a", "1"), Candidate("b", "1")], open_count=0,
                                  recent_count=0, blocked=set(), limits=ProposalLimits())
        assert [v.propose for v in verdicts] == [True, False]

    def test_stale_after_the_configured_age(self) -> None:
        """A pull request older than the age is stale; a younger one is not."""
        now = datetime(2026, 1, 20)
        assert is_stale(datetime(2026, 1, 1), now, timedelta(days=14))
        assert not is_stale(datetime(2026, 1, 10), now, timedelta(days=14))
        assert "19 days" in build_stale_comment(timedelta(days=19), timedelta(days=14))


def test_revert_body_quotes_the_reason_and_links_the_original() -> None:
    """The revert body references the original pull request and quotes the reason."""
    body = build_revert_body(modification_id="m-1", original_number=7,
                             original_url="http://h/o/r/pull/7", reason="slower\nin prod",
                             requested_by="alice", merge_commit="a" * 40)
    assert "[#7](http://h/o/r/pull/7)" in body and "> slower\n> in prod" in body
    assert "@alice" in body and "aaaaaaaaaaaa" in body
