"""How many self-mod pull requests a repository may get, and which ones not again (pure)."""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_PER_HOUR = 2
DEFAULT_STALE_AFTER = timedelta(days=14)


class SkipReason(enum.StrEnum):
    """Why an approved suggestion is not proposed now."""

    DUPLICATE = "duplicate"
    OPEN_LIMIT = "open_limit"
    HOURLY_LIMIT = "hourly_limit"


@dataclass(frozen=True)
class ProposalLimits:
    """The caps that keep a repository from being flooded."""

    max_open: int = 3
    per_hour: int = DEFAULT_PER_HOUR


@dataclass(frozen=True)
class Candidate:
    """An approved suggestion waiting to be proposed."""

    modification_id: str
    fingerprint: str


@dataclass(frozen=True)
class Verdict:
    """Whether to propose one candidate now, and why not."""

    modification_id: str
    propose: bool
    reason: SkipReason | None = None
    detail: str | None = None


def plan_proposals(candidates: Sequence[Candidate], *, open_count: int, recent_count: int,
                   blocked: Collection[str], limits: ProposalLimits) -> list[Verdict]:
    """Decide, in order, which candidates become pull requests now.

    `blocked` holds the fingerprints of open self-mod pull requests and of those closed
    without merge (closed unmerged means no); `recent_count` is how many were opened in the
    last hour.
    """
    verdicts = []
    seen = set(blocked)
    opened = 0
    for candidate in candidates:
        if candidate.fingerprint in seen:
            verdicts.append(Verdict(candidate.modification_id, False, SkipReason.DUPLICATE,
                                    "the same change is open or was closed without merge"))
            continue
        if open_count + opened >= limits.max_open:
            verdicts.append(Verdict(candidate.modification_id, False, SkipReason.OPEN_LIMIT,
                                    f"{limits.max_open} self-mod pull requests are open"))
            continue
        if recent_count + opened >= limits.per_hour:
            verdicts.append(Verdict(candidate.modification_id, False, SkipReason.HOURLY_LIMIT,
                                    f"{limits.per_hour} self-mod pull requests were opened "
                                    "in the last hour"))
            continue
        seen.add(candidate.fingerprint)
        opened += 1
        verdicts.append(Verdict(candidate.modification_id, True))
    return verdicts


def is_stale(created_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """Tell whether a self-mod pull request has waited longer than it may."""
    return now - created_at > max_age


def build_stale_comment(age: timedelta, max_age: timedelta) -> str:
    """Return the comment that closes a stale self-mod pull request."""
    return (f"Closing this self-mod pull request: it has been open for {age.days} days, "
            f"longer than the {max_age.days} days selfmod keeps a proposal open. The code "
            "may have moved on; selfmod will propose again from a fresh analysis if the "
            "change still helps. Reopen it to keep it.")
