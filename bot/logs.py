"""Logging set-up: JSON lines (or plain text) with the delivery, session and job ids."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from bot.settings import Settings

_CONTEXT_FIELDS = ("delivery_id", "session_id", "job_id", "installation_id", "repository")
# The ids of the delivery, job and session being handled; tasks inherit them when started.
_LOG_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("selfmod_log_context",
                                                                default=None)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add these ids to every log line written inside the block (and tasks it starts)."""
    known = {name: value for name, value in fields.items()
             if name in _CONTEXT_FIELDS and value is not None}
    token = _LOG_CONTEXT.set({**(_LOG_CONTEXT.get() or {}), **known})
    try:
        yield
    finally:
        _LOG_CONTEXT.reset(token)


def bind_log_context(**fields: Any) -> None:
    """Add these ids to every later log line of the current task (and tasks it starts)."""
    known = {name: value for name, value in fields.items()
             if name in _CONTEXT_FIELDS and value is not None}
    _LOG_CONTEXT.set({**(_LOG_CONTEXT.get() or {}), **known})


class ContextFilter(logging.Filter):
    """Copy the ids of `log_context` onto each record that does not carry its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drop it."""
        for name, value in (_LOG_CONTEXT.get() or {}).items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as JSON with its context fields."""
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    """Send logs to stderr in the configured format and level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
