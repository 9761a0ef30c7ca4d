"""The one place that reads the wall clock; everything else takes `now` as an argument."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current UTC time as a naive datetime (how the database stores it)."""
    return datetime.now(UTC).replace(tzinfo=None)
