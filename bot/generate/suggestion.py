"""The Suggestion: one candidate change, possibly over several files."""

from __future__ import annotations

import difflib
import enum
import uuid
from dataclasses import dataclass, field, replace
from typing import Any


class ModificationType(enum.StrEnum):
    """The kinds of change the PRD names."""

    PERFORMANCE = "performance"
    BUG_FIX = "bug_fix"
    REFACTOR = "refactor"
    FEATURE_ADD = "feature_add"


@dataclass(frozen=True)
class FileChange:
    """One file's content before and after; `None` means absent (created or deleted)."""

    path: str
    original: str | None
    modified: str | None

    def build_diff(self) -> str:
        """Return this file's unified diff with a/ and b/ prefixes."""
        before = (self.original or "").splitlines(keepends=True)
        after = (self.modified or "").splitlines(keepends=True)
        old = f"a/{self.path}" if self.original is not None else "/dev/null"
        new = f"b/{self.path}" if self.modified is not None else "/dev/null"
        lines = difflib.unified_diff(before, after, old, new)
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                       for line in lines)


@dataclass(frozen=True)
class Suggestion:
    """A candidate modification with its evidence so far."""

    modification_type: ModificationType
    files: tuple[FileChange, ...]
    original_code: str
    modified_code: str
    reasoning: str
    rule_id: str
    target_symbols: tuple[str, ...] = ()
    expected_effect: str = ""
    title: str = ""
    declares_api_change: bool = False
    safety_score: float | None = None
    safety_reasons: tuple[str, ...] = ()
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def diff(self) -> str:
        """Return the unified diff over every file touched."""
        return "".join(change.build_diff() for change in self.files)

    def with_safety(self, score: float, reasons: tuple[str, ...]) -> Suggestion:
        """Return a copy carrying the validator's score and reasons."""
        return replace(self, safety_score=score, safety_reasons=reasons)

    def to_json(self) -> dict[str, Any]:
        """Return the documented JSON shape (the PRD's analyze response item)."""
        return {
            "id": str(self.id),
            "modification_type": self.modification_type.value,
            "files": [change.path for change in self.files],
            "diff": self.diff,
            "original_code": self.original_code,
            "modified_code": self.modified_code,
            "reasoning": self.reasoning,
            "rule_id": self.rule_id,
            "target_symbols": list(self.target_symbols),
            "expected_effect": self.expected_effect,
            "title": self.title,
            "declares_api_change": self.declares_api_change,
            "safety_score": self.safety_score,
            "safety_reasons": list(self.safety_reasons),
        }
