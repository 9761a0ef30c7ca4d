"""Commit messages of the app: the first line, the reasoning and the Selfmod-* trailers (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import GitError

SUBJECT_PREFIX = "Self-modification: "
SESSION = "Selfmod-Session"
SAFETY_SCORE = "Selfmod-Safety-Score"
IMPACT = "Selfmod-Impact"
REVERTS = "Selfmod-Reverts"
SIGNATURE = "Selfmod-Signature"
BRANCH_PREFIX = "self-mod/"

# Also a branch name component (self-mod/<id>): no slashes, spaces, dots at the ends or `..`.
_MODIFICATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}[A-Za-z0-9]|[A-Za-z0-9]")
_SUBJECT = re.compile(r"Self-modification: ([^\s:]+):? ?(.*)")
_TRAILER = re.compile(r"([A-Za-z][A-Za-z0-9-]*): (.*)")


@dataclass(frozen=True)
class CommitFacts:
    """What a self-modification commit says about itself."""

    modification_id: str
    title: str
    reasoning: str = ""
    session_id: str | None = None
    safety_score: float | None = None
    impact: str | None = None
    reverts: str | None = None


@dataclass(frozen=True)
class ParsedMessage:
    """A commit message split into the modification id, its body and its trailers."""

    modification_id: str
    title: str
    trailers: tuple[tuple[str, str], ...]

    def trailer(self, name: str) -> str | None:
        """Return the last value of a trailer, or None."""
        values = [value for key, value in self.trailers if key.lower() == name.lower()]
        return values[-1] if values else None


def check_modification_id(modification_id: str) -> str:
    """Return the id when it is usable in a message and a branch name; raise otherwise."""
    if not _MODIFICATION_ID.fullmatch(modification_id):
        raise GitError(f"bad modification id {modification_id!r}: use letters, digits, - and _")
    return modification_id


def build_branch_name(modification_id: str, *, revert: bool = False) -> str:
    """Return `self-mod/<id>` (or `self-mod/<id>-revert`)."""
    name = BRANCH_PREFIX + check_modification_id(modification_id)
    return name + "-revert" if revert else name


def build_commit_message(facts: CommitFacts, signature: str | None = None) -> str:
    """Return the full message: first line, reasoning, then the trailers."""
    check_modification_id(facts.modification_id)
    title = _one_line(facts.title) or "(untitled)"
    parts = [f"{SUBJECT_PREFIX}{facts.modification_id}: {title}"]
    reasoning = facts.reasoning.strip()
    if reasoning:
        parts.append(reasoning)
    trailers = build_trailers(facts, signature)
    if trailers:
        parts.append("\n".join(f"{key}: {value}" for key, value in trailers))
    return "\n\n".join(parts) + "\n"


def append_trailer(message: str, key: str, value: str) -> str:
    """Add one trailer to a message: to its trailer block, or as a new last paragraph."""
    paragraphs = message.strip("\n").split("\n\n")
    line = f"{key}: {_one_line(value)}"
    last = paragraphs[-1].splitlines()
    if len(paragraphs) > 1 and all(_TRAILER.fullmatch(x.strip()) for x in last):
        paragraphs[-1] += "\n" + line
    else:
        paragraphs.append(line)
    return "\n\n".join(paragraphs) + "\n"


def build_trailers(facts: CommitFacts, signature: str | None) -> list[tuple[str, str]]:
    """Return the trailers in their fixed order, leaving out the unknown ones."""
    trailers: list[tuple[str, str]] = []
    if facts.session_id:
        trailers.append((SESSION, _one_line(facts.session_id)))
    if facts.safety_score is not None:
        if not 0.0 <= facts.safety_score <= 1.0:
            raise GitError(f"safety score {facts.safety_score} is outside 0..1")
        trailers.append((SAFETY_SCORE, f"{facts.safety_score:.2f}"))
    if facts.impact:
        trailers.append((IMPACT, _one_line(facts.impact)))
    if facts.reverts:
        trailers.append((REVERTS, _one_line(facts.reverts)))
    if signature:
        trailers.append((SIGNATURE, _one_line(signature)))
    return trailers


def parse_commit_message(message: str) -> ParsedMessage:
    """Split a self-modification message; raise when it is not one."""
    lines = message.strip("\n").splitlines()
    match = _SUBJECT.fullmatch(lines[0].strip()) if lines else None
    if match is None:
        raise GitError("the commit message does not start with 'Self-modification: <id>'")
    paragraphs = message.strip().split("\n\n")
    trailers: list[tuple[str, str]] = []
    if len(paragraphs) > 1:
        for line in paragraphs[-1].splitlines():
            found = _TRAILER.fullmatch(line.strip())
            if found:
                trailers.append((found.group(1), found.group(2).strip()))
    return ParsedMessage(match.group(1), match.group(2).strip(), tuple(trailers))


def _one_line(text: str) -> str:
    """Collapse whitespace so a value cannot break the message's structure."""
    return " ".join(text.split())
