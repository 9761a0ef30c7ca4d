"""Prometheus metrics: counters where things happen, database gauges read at scrape time."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import utcnow
from bot.metrics import CountingRecorder, Metrics, process_metrics
from bot.sandbox.recorder import ExecutionRecord
from bot.settings import Settings, load_settings
from bot.store.db import create_engine
from bot.store.migrate import upgrade
from bot.store.queue import JobQueue
from bot.web.app import create_app
from bot.web.metrics import read_database_figures

SECRET = "metrics-secret"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _settings(url: str) -> Settings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    return load_settings({"DATABASE_URL": url, "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": key,
                          "GITHUB_WEBHOOK_SECRET": SECRET})


async def _migrated(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()


async def test_queue_depth_and_oldest_age_come_from_the_database(
        aiohttp_client: Any, database_url: str) -> None:
    """Queued jobs show as depth by kind, and the oldest one's age, at scrape time."""
    await _migrated(database_url)
    engine = create_engine(database_url)
    queue = JobQueue(engine)
    try:
        now = utcnow()
        for index in range(3):
            await queue.enqueue("github_event", {}, now=now - timedelta(minutes=index))
        await queue.enqueue("analyze_repository", {}, now=now)
        client = await aiohttp_client(create_app(_settings(database_url)))
        answer = await client.get("/metrics")
        assert answer.status == 200 and answer.content_type == "text/plain"
        samples = _samples(await answer.text())
    finally:
        await queue.close()
        await engine.dispose()
    depth = (("kind", "github_event"), ("status", "queued"))
    assert samples[("selfmod_queue_depth", depth)] == 3
    assert samples[("selfmod_queue_depth",
                    (("kind", "analyze_repository"), ("status", "queued")))] == 1
    assert samples[("selfmod_queue_oldest_job_age_seconds",
                    (("kind", "github_event"),))] >= 120


async def test_webhooks_are_counted_by_event_and_outcome(aiohttp_client: Any,
                                                         sqlite_url: str) -> None:
    """A ping, its redelivery and an unsigned delivery each bump their own counter."""
    from bot.github.signature import build_signature

    await _migrated(sqlite_url)
    client = await aiohttp_client(create_app(_settings(sqlite_url)))
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    delivery = str(uuid.uuid4())
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": build_signature(body, SECRET)}
    before = _samples(await (await client.get("/metrics")).text())
    for _ in range(2):
        assert (await client.post("/webhook", data=body, headers=headers)).status == 200
    unsigned = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert (await client.post("/webhook", data=body, headers=unsigned)).status == 401
    after = _samples(await (await client.get("/metrics")).text())

    def grew(outcome: str) -> float:
        key = ("selfmod_webhooks_total", (("event", "ping"), ("outcome", outcome)))
        return after.get(key, 0) - before.get(key, 0)

    assert (grew("pong"), grew("duplicate"), grew("bad_signature")) == (1, 1, 1)


async def test_sessions_and_suggestions_by_status(migrated_engine: Any) -> None:
    """The database figures count sessions and suggestions by their status."""
    from bot.store.models import CodeModification, ModificationSession, ModificationStatus

    async with migrated_engine.begin() as connection:
        session_id = uuid.uuid4()
        await connection.execute(ModificationSession.__table__.insert().values(
            id=session_id, codebase_path="/r", status=ModificationStatus.COMPLETED.value))
        for status in ("approved", "rejected", "rejected"):
            await connection.execute(CodeModification.__table__.insert().values(
                id=uuid.uuid4(), session_id=session_id, file_path="a.py", status=status,
                created_at=utcnow()))
    figures = await read_database_figures(migrated_engine, now=utcnow())
    assert figures.sessions == {"completed": 1}
    assert figures.suggestions == {"approved": 1, "rejected": 2}


def test_github_calls_and_rate_limit() -> None:
    """Each GitHub answer is counted, and its x-ratelimit-remaining kept per resource."""
    metrics = Metrics()
    metrics.observe_github_call("get", 200, {"x-ratelimit-remaining": "4999",
                                             "x-ratelimit-resource": "core"})
    metrics.observe_github_call("POST", 502, {})
    samples = _samples(metrics.render().decode())
    assert samples[("selfmod_github_api_calls_total",
                    (("method", "GET"), ("status", "200")))] == 1
    assert samples[("selfmod_github_api_calls_total",
                    (("method", "POST"), ("status", "502")))] == 1
    assert samples[("selfmod_github_rate_limit_remaining", (("resource", "core"),))] == 4999


async def test_sandbox_runs_are_counted_then_recorded() -> None:
    """The counting recorder counts each run by outcome, times it, and passes it on."""
    metrics = Metrics()
    passed_on: list[ExecutionRecord] = []

    async def store(record: ExecutionRecord) -> None:
        passed_on.append(record)

    recorder = CountingRecorder(store, metrics)
    for exit_code, killed in ((0, None), (1, None), (137, "timeout")):
        await recorder(ExecutionRecord(
            id=uuid.uuid4(), modification_id=None, session_id=None, execution_type="tests",
            command="pytest", stdout="", stderr="", exit_code=exit_code,
            execution_time_ms=1500, memory_usage_mb=None, executed_at=utcnow(),
            killed_reason=killed, security_violations=[]))
    samples = _samples(metrics.render().decode())
    for outcome in ("passed", "failed", "killed_timeout"):
        assert samples[("selfmod_sandbox_runs_total", (("outcome", outcome),))] == 1
    assert samples[("selfmod_sandbox_run_seconds_count", ())] == 3
    assert samples[("selfmod_sandbox_run_seconds_sum", ())] == 4.5
    assert len(passed_on) == 3


def test_rollbacks_sessions_and_decisions() -> None:
    """Rollbacks, finished sessions and decisions have their counters."""
    metrics = Metrics()
    metrics.observe_rollback(12.5, automatic=True)
    metrics.count_session("completed")
    metrics.count_suggestion("approved")
    samples = _samples(metrics.render().decode())
    assert samples[("selfmod_rollbacks_total", (("trigger", "automatic"),))] == 1
    assert samples[("selfmod_rollback_seconds_sum", ())] == 12.5
    assert samples[("selfmod_sessions_finished_total", (("status", "completed"),))] == 1
    assert samples[("selfmod_suggestions_decided_total", (("decision", "approved"),))] == 1


def test_process_metrics_is_one_registry() -> None:
    """Every caller in a process bumps the same registry."""
    assert process_metrics() is process_metrics()
