"""Categories of feedback: what a reviewer's words or a rollback reason complain about."""

from __future__ import annotations

import enum
import re


class Category(enum.StrEnum):
    """The kinds of complaint that tighten a constraint for a repository."""

    API_CONTRACT = "api_contract"
    NAMING = "naming"
    READABILITY = "readability"
    PERFORMANCE = "performance_regression"
    CORRECTNESS = "correctness"


# Deterministic phrase rules, checked on lower-cased text. Each pattern names a complaint,
# not a topic: "great performance improvement" is praise, "slower" is a complaint.
_RULES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    (Category.API_CONTRACT, re.compile(
        r"\b(broke|breaks|broken|breaking|break)\b.{0,40}\b(api|contract|interface|signature|"
        r"callers?|clients?|users?|backward)|\bapi\b.{0,30}\b(broke|broken|break|changed|"
        r"contract)|\bcontract\b.{0,20}\b(broke|broken|violat)|backwards?[- ]incompatib|"
        r"\b(different|new|other) exceptions?\b|\breturn type\b")),
    (Category.NAMING, re.compile(
        r"\bnam(e|es|ing)\b.{0,30}\b(inconsistent|wrong|bad|style|convention|camel|snake)|"
        r"\binconsistent\b.{0,20}\b(nam|style)|camel ?case|snake ?case|\bnaming\b|"
        r"\bstyle\b.{0,20}\b(inconsistent|wrong|mismatch|doesn'?t match|does not match)")),
    (Category.READABILITY, re.compile(
        r"\b(unreadable|hard(er)? to (read|follow|understand)|less readable|readability|"
        r"too clever|obscure|cryptic|confusing|convoluted)\b")),
    (Category.PERFORMANCE, re.compile(
        r"\b(slower|slowdown|slows? down|performance regression|regress(ed|ion)? .{0,20}"
        r"(speed|performance|latency)|(more|higher) (memory|latency|cpu)|memory (leak|blow))")),
    (Category.CORRECTNESS, re.compile(
        r"\b(wrong (result|answer|output)|incorrect|bug|breaks? (the )?tests?|test(s)? "
        r"fail|failing tests?|crash(es|ed)?|exception in prod|changed (the )?behaviou?r|"
        r"not equivalent|off[- ]by[- ]one|data loss)\b")),
)


def classify(text: str | None) -> tuple[Category, ...]:
    """Return the categories a feedback text or rollback reason complains about, in order."""
    if not text:
        return ()
    lowered = " ".join(text.lower().split())
    return tuple(category for category, pattern in _RULES if pattern.search(lowered))


def build_category_text(categories: tuple[Category, ...]) -> str | None:
    """Return the categories as stored in a feedback row's `category` column."""
    return ",".join(c.value for c in categories) or None


def parse_category_text(text: str | None) -> tuple[Category, ...]:
    """Read the categories back from a feedback row's `category` column (others ignored)."""
    known = {c.value: c for c in Category}
    return tuple(known[part] for part in (text or "").split(",") if part in known)
