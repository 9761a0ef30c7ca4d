"""Prometheus metrics of one process: counters bumped where things happen, gauges set at scrape.

Metrics are process-wide, like logging: the code that sees an event (a webhook view, a sandbox
run, a GitHub call) bumps a counter through `process_metrics()`, which builds the registry on
first use (never at import time). Each process serves its own registry: the web process at
`/metrics`, a worker on `SELFMOD_METRICS_PORT`. Figures that the database knows for every process
at once (queue depth, sessions and suggestions by status) are read from it at scrape time.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from bot.sandbox.recorder import ExecutionRecord, ExecutionRecorder

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Sandbox runs last from a fraction of a second (a probe) to minutes (a test suite).
SANDBOX_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# A rollback is a revert branch, a signed commit and a pull request: seconds to minutes.
ROLLBACK_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


@dataclass(frozen=True)
class QueueFigures:
    """Jobs waiting or running, by kind and status, and the age of the oldest waiting job."""

    depth: Mapping[tuple[str, str], int] = field(default_factory=dict)
    oldest_age_seconds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DatabaseFigures:
    """What the database says at scrape time, for every process at once."""

    queue: QueueFigures = field(default_factory=QueueFigures)
    sessions: Mapping[str, int] = field(default_factory=dict)
    suggestions: Mapping[str, int] = field(default_factory=dict)


class Metrics:
    """The metrics of one process in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.webhooks = Counter("selfmod_webhooks", "Webhook deliveries received",
                                ["event", "outcome"], registry=r)
        self._webhook_counters: dict[tuple[str, str], Any] = {}
        self.sessions = Counter("selfmod_sessions_finished", "Analysis sessions finished",
                                ["status"], registry=r)
        self.suggestions = Counter("selfmod_suggestions_decided", "Suggestions decided",
                                   ["decision"], registry=r)
        self.sandbox_runs = Counter("selfmod_sandbox_runs", "Sandbox runs", ["outcome"],
                                    registry=r)
        self.sandbox_seconds = Histogram("selfmod_sandbox_run_seconds",
                                         "Wall time of sandbox runs", buckets=SANDBOX_BUCKETS,
                                         registry=r)
        self.github_calls = Counter("selfmod_github_api_calls", "GitHub API requests",
                                    ["method", "status"], registry=r)
        self.github_remaining = Gauge("selfmod_github_rate_limit_remaining",
                                      "GitHub's x-ratelimit-remaining on the last answer",
                                      ["resource"], registry=r)
        self.rollbacks = Counter("selfmod_rollbacks", "Rollbacks performed", ["trigger"],
                                 registry=r)
        self.rollback_seconds = Histogram("selfmod_rollback_seconds",
                                          "Time from a rollback request to its revert",
                                          buckets=ROLLBACK_BUCKETS, registry=r)
        self.queue_depth = Gauge("selfmod_queue_depth", "Jobs waiting or running",
                                 ["kind", "status"], registry=r)
        self.queue_oldest = Gauge("selfmod_queue_oldest_job_age_seconds",
                                  "Age of the oldest waiting job", ["kind"], registry=r)
        self.db_sessions = Gauge("selfmod_sessions", "Analysis sessions in the database",
                                 ["status"], registry=r)
        self.db_suggestions = Gauge("selfmod_suggestions", "Suggestions in the database",
                                    ["status"], registry=r)
        self._lock = threading.Lock()

    def count_webhook(self, event: str, outcome: str) -> None:
        """Count one delivery by event name and what the app did with it."""
        key = (event or "unknown", outcome)
        counter = self._webhook_counters.get(key)
        if counter is None:
            # Looking a labelled child up costs more than counting with it (once a delivery).
            counter = self._webhook_counters[key] = self.webhooks.labels(
                event=key[0], outcome=outcome)
        counter.inc()

    def count_session(self, status: str) -> None:
        """Count one analysis session that ended with this status."""
        self.sessions.labels(status=status).inc()

    def count_suggestion(self, decision: str) -> None:
        """Count one suggestion decision (approved, rejected, proposed, ...)."""
        self.suggestions.labels(decision=decision).inc()

    def observe_sandbox_run(self, seconds: float, *, exit_code: int,
                            killed_reason: str | None) -> None:
        """Count one sandbox run and its wall time."""
        outcome = f"killed_{killed_reason}" if killed_reason else \
            "passed" if exit_code == 0 else "failed"
        self.sandbox_runs.labels(outcome=outcome).inc()
        self.sandbox_seconds.observe(max(0.0, seconds))

    def count_sandbox_unavailable(self) -> None:
        """Count a sandbox run that found no Docker engine."""
        self.sandbox_runs.labels(outcome="engine_unavailable").inc()

    def observe_github_call(self, method: str, status: int,
                            headers: Mapping[str, str]) -> None:
        """Count one GitHub answer and remember the rate limit it reported."""
        self.github_calls.labels(method=method.upper(), status=str(status)).inc()
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.strip().isdigit():
            resource = headers.get("x-ratelimit-resource") or "core"
            self.github_remaining.labels(resource=resource).set(int(remaining))

    def observe_rollback(self, seconds: float, *, automatic: bool) -> None:
        """Count one rollback and how long it took from the request."""
        self.rollbacks.labels(trigger="automatic" if automatic else "command").inc()
        self.rollback_seconds.observe(max(0.0, seconds))

    def set_database_figures(self, figures: DatabaseFigures) -> None:
        """Replace the scrape-time gauges with what the database says now."""
        with self._lock:
            _replace(self.queue_depth, {(k, s): float(n)
                                        for (k, s), n in figures.queue.depth.items()})
            _replace(self.queue_oldest, {(k,): age
                                         for k, age in figures.queue.oldest_age_seconds.items()})
            _replace(self.db_sessions, {(s,): float(n) for s, n in figures.sessions.items()})
            _replace(self.db_suggestions, {(s,): float(n)
                                           for s, n in figures.suggestions.items()})

    def render(self) -> bytes:
        """Return the registry in Prometheus' text format."""
        return generate_latest(self.registry)


def _replace(gauge: Gauge, values: Mapping[tuple[str, ...], float]) -> None:
    # A label set that disappeared from the database must not linger with its old value.
    gauge.clear()
    for labels, value in values.items():
        gauge.labels(*labels).set(value)


class CountingRecorder:
    """Count each sandbox run in the metrics, then hand its record on."""

    def __init__(self, inner: ExecutionRecorder | None = None,
                 metrics: Metrics | None = None) -> None:
        self._inner = inner
        self._metrics = metrics

    async def __call__(self, record: ExecutionRecord) -> None:
        """Count the run and pass the record to the wrapped recorder."""
        (self._metrics or process_metrics()).observe_sandbox_run(
            record.execution_time_ms / 1000, exit_code=record.exit_code,
            killed_reason=record.killed_reason)
        if self._inner is not None:
            await self._inner(record)


@functools.cache
def process_metrics() -> Metrics:
    """Return this process's metrics, built on first use."""
    return Metrics()


def serve_process_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Serve this process's metrics over HTTP on a background thread (for workers)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=process_metrics().registry)
