"""Recording each sandbox run: the record, the recorder seam, and the database recorder."""

from __future__ import annotations

import shlex
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.sandbox.runner import SandboxRequest, SandboxResult


@dataclass(frozen=True)
class ExecutionRecord:
    """One row of `sandbox_executions` (PRD), plus why a run was stopped and what it tried."""

    id: uuid.UUID
    modification_id: uuid.UUID | None
    session_id: uuid.UUID | None
    execution_type: str
    command: str
    stdout: str
    stderr: str
    exit_code: int
    execution_time_ms: int
    memory_usage_mb: int | None
    executed_at: datetime
    killed_reason: str | None
    security_violations: list[dict[str, str]]


class ExecutionRecorder(Protocol):
    """Something that stores a run's record; the engine passes one to the runner."""

    async def __call__(self, record: ExecutionRecord) -> None:
        """Store one record."""


def build_record(request: SandboxRequest, result: SandboxResult, *,
                 now: datetime) -> ExecutionRecord:
    """Return the record of a finished run."""
    peak = result.peak_memory_bytes
    return ExecutionRecord(
        id=uuid.uuid4(),
        modification_id=request.modification_id,
        session_id=request.session_id,
        execution_type=request.execution_type,
        command=shlex.join(request.command),
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code,
        execution_time_ms=max(1, round(result.wall_time * 1000)),
        memory_usage_mb=None if peak is None else -(-peak // (1024 * 1024)),
        executed_at=now,
        killed_reason=result.killed_reason.value if result.killed_reason else None,
        security_violations=[v.to_json() for v in result.security_violations],
    )


class StoreRecorder:
    """Write each record as a `sandbox_executions` row."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def __call__(self, record: ExecutionRecord) -> None:
        """Insert the row and commit."""
        from bot.store.models import SandboxExecution

        values: dict[str, Any] = {
            name: getattr(record, name) for name in record.__dataclass_fields__
        }
        # The PRD column is a naive TIMESTAMP.
        values["executed_at"] = record.executed_at.replace(tzinfo=None)
        async with self._sessionmaker() as session:
            session.add(SandboxExecution(**values))
            await session.commit()
