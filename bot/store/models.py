"""SQLAlchemy models: the PRD's tables and what the GitHub App needs beside them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class ModificationSafety(enum.StrEnum):
    """The PRD's `modification_safety` enum: how much risk a session accepts."""

    CONSERVATIVE = "conservative"
    MODERATE = "moderate"
    AGGRESSIVE = "aggressive"


class ModificationStatus(enum.StrEnum):
    """The PRD's `modification_status` enum: where an analysis session stands."""

    ANALYZING = "analyzing"
    GENERATING = "generating"
    VALIDATING = "validating"
    TESTING = "testing"
    BENCHMARKING = "benchmarking"
    PROPOSING = "proposing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A session in one of these has ended; in any other it is still being worked on.
FINISHED_SESSION_STATUSES = frozenset({ModificationStatus.COMPLETED, ModificationStatus.FAILED,
                                       ModificationStatus.CANCELLED})
SESSION_STATUSES_IN_PROGRESS = frozenset(ModificationStatus) - FINISHED_SESSION_STATUSES


class SuggestionStatus(enum.StrEnum):
    """Where one code modification stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROPOSED = "proposed"
    APPLIED = "applied"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    # Closed unmerged by the app after the stale period (the pull request expired).
    EXPIRED = "expired"
    # Transitional, held only while git applies or reverts it (see bot.web.api.claims).
    APPLYING = "applying"
    ROLLING_BACK = "rolling_back"


class JobStatus(enum.StrEnum):
    """Where a queued job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"
    SUPERSEDED = "superseded"


PENDING_JOBS = "status IN ('queued', 'running')"
RUNNING_JOBS = "status = 'running'"


def _values(enum_type: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_type]


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Agent(Base):
    """An agent (the app, a CLI user, an API client) that starts sessions."""

    __tablename__ = "agents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(50), default="app")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


class ModificationSession(Base):
    """One run of the pipeline on one commit of one codebase (PRD)."""

    __tablename__ = "modification_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"))
    codebase_path: Mapped[str] = mapped_column(String(500))
    modification_goals: Mapped[Any] = mapped_column(JSONType, nullable=True)
    safety_level: Mapped[ModificationSafety] = mapped_column(
        Enum(ModificationSafety, name="modification_safety", values_callable=_values),
        default=ModificationSafety.CONSERVATIVE,
        server_default=ModificationSafety.CONSERVATIVE.value,
        nullable=True,
    )
    status: Mapped[ModificationStatus] = mapped_column(
        Enum(ModificationStatus, name="modification_status", values_callable=_values),
        default=ModificationStatus.ANALYZING,
        server_default=ModificationStatus.ANALYZING.value,
        nullable=True,
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    success_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Beyond the PRD: where the session came from and what it looked at.
    repository_id: Mapped[int | None] = mapped_column(ForeignKey("repositories.id"))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[str | None] = mapped_column(String(50))
    report: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)


class CodeModification(Base):
    """One candidate change, possibly over several files (PRD)."""

    __tablename__ = "code_modifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("modification_sessions.id"))
    file_path: Mapped[str] = mapped_column(String(500))
    modification_type: Mapped[str | None] = mapped_column(String(100))
    original_content: Mapped[str | None] = mapped_column(Text)
    modified_content: Mapped[str | None] = mapped_column(Text)
    modification_reason: Mapped[str | None] = mapped_column(Text)
    safety_score: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    performance_impact: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    applied_at: Mapped[datetime | None] = mapped_column(DateTime)
    rollback_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Beyond the PRD: the decision, its evidence and where the change went.
    status: Mapped[str] = mapped_column(String(30), default=SuggestionStatus.PENDING.value)
    rule_id: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(300))
    diff: Mapped[str | None] = mapped_column(Text)
    files: Mapped[Any] = mapped_column(JSONType, nullable=True)
    rejection_reasons: Mapped[Any] = mapped_column(JSONType, nullable=True)
    evidence: Mapped[Any] = mapped_column(JSONType, nullable=True)
    branch: Mapped[str | None] = mapped_column(String(300))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    base_sha: Mapped[str | None] = mapped_column(String(64))
    merge_commit_sha: Mapped[str | None] = mapped_column(String(64))
    pull_request_number: Mapped[int | None] = mapped_column(Integer)
    pull_request_url: Mapped[str | None] = mapped_column(String(500))
    rollback_reason: Mapped[str | None] = mapped_column(Text)
    revert_pull_request_number: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    __table_args__ = (Index("idx_modifications_session", "session_id"),)


class ModificationMetric(Base):
    """A performance metric before and after a modification (PRD)."""

    __tablename__ = "modification_metrics"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    modification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("code_modifications.id")
    )
    metric_name: Mapped[str | None] = mapped_column(String(100))
    baseline_value: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    modified_value: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    improvement_percentage: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    measured_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())

    __table_args__ = (Index("idx_metrics_modification", "modification_id"),)


class SandboxExecution(Base):
    """One command run in the sandbox (PRD)."""

    __tablename__ = "sandbox_executions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    modification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("code_modifications.id")
    )
    execution_type: Mapped[str | None] = mapped_column(String(50))
    command: Mapped[str | None] = mapped_column(Text)
    stdout: Mapped[str | None] = mapped_column(Text)
    stderr: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)
    memory_usage_mb: Mapped[int | None] = mapped_column(Integer)
    executed_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=func.now())
    # Beyond the PRD: the session a baseline run belongs to, and why a run was stopped.
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("modification_sessions.id"))
    killed_reason: Mapped[str | None] = mapped_column(String(50))
    security_violations: Mapped[Any] = mapped_column(JSONType, nullable=True)


class Installation(Base):
    """A GitHub App installation."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_login: Mapped[str] = mapped_column(String(200))
    account_type: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime)


class Repository(Base):
    """A repository the app is installed on."""

    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    installation_id: Mapped[int | None] = mapped_column(ForeignKey("installations.id"))
    full_name: Mapped[str] = mapped_column(String(300))
    default_branch: Mapped[str | None] = mapped_column(String(300))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    removed_at: Mapped[datetime | None] = mapped_column(DateTime)
    settings: Mapped[Any] = mapped_column(JSONType, nullable=True)


class WebhookDelivery(Base):
    """A webhook delivery, recorded once by its GitHub delivery id."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(100))
    action: Mapped[str | None] = mapped_column(String(100))
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    repository_id: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())
    outcome: Mapped[str | None] = mapped_column(String(50))
    job_id: Mapped[int | None] = mapped_column(BigInteger)


class Feedback(Base):
    """What a reviewer, an outcome or an API client said about a modification."""

    __tablename__ = "feedback"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    modification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("code_modifications.id")
    )
    repository_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(50))
    rating: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())


class RuleStatistic(Base):
    """Acceptance counts of one rule in one area of one repository."""

    __tablename__ = "rule_statistics"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    repository_key: Mapped[str] = mapped_column(String(500))
    rule_id: Mapped[str] = mapped_column(String(100))
    area: Mapped[str] = mapped_column(String(300), default="")
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    suppressed_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())

    __table_args__ = (UniqueConstraint("repository_key", "rule_id", "area",
                                       name="uq_rule_statistics_key"),)


class Job(Base):
    """A durable unit of work, claimed by one worker at a time under a lease."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    key: Mapped[str | None] = mapped_column(String(300), unique=True)
    group_key: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[Any] = mapped_column(JSONType, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[datetime] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        # Only waiting and running jobs are ever claimed; done ones pile up outside this index.
        Index("idx_jobs_pending", "run_after", "id",
              sqlite_where=text(PENDING_JOBS), postgresql_where=text(PENDING_JOBS)),
        # At most one running job per group (one repository), enforced by the database.
        Index("uq_jobs_running_group", "group_key", unique=True,
              sqlite_where=text(RUNNING_JOBS), postgresql_where=text(RUNNING_JOBS)),
    )


class GitHubRateLimit(Base):
    """GitHub's last-reported rate limit for one installation (or the App), shared by processes."""

    __tablename__ = "github_rate_limits"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    remaining: Mapped[int] = mapped_column(Integer)
    reset_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
