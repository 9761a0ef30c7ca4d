"""Helpers of the REST API tests: a migrated app with the API configured, real repositories."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.engine.gitrepo import CommitRequest
from bot.generate.suggestion import FileChange
from bot.settings import Settings, load_settings
from bot.store.db import create_engine, create_sessionmaker
from bot.store.migrate import upgrade
from bot.store.models import CodeModification, ModificationSession, ModificationStatus
from bot.vcs.commit import Author
from bot.vcs.keys import load_or_create_key
from bot.vcs.safegit import SafeGit
from bot.vcs.writer import SignedCommitWriter
from bot.web.api.analysis import ReviewBranchWriter
from bot.web.approval import mint_token

API_TOKEN = "test-api-token"
SECRET = "test-approval-secret-of-enough-length"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ORIGINAL = ("def total(xs):\n    result = 0\n    for x in xs:\n        result = result + x\n"
            "    return result\n")
CHANGED = "def total(xs):\n    return sum(xs)\n"


def api_settings(tmp_path: Path, root: Path, **extra: str) -> Settings:
    """Return settings with the API open on root, an approval secret and a private data dir."""
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
           "SELFMOD_API_TOKEN": API_TOKEN, "SELFMOD_API_ROOTS": str(root),
           "SELFMOD_APPROVAL_SECRET": SECRET, "SELFMOD_DATA_DIR": str(tmp_path / "data")}
    env.update(extra)
    return load_settings(env)


async def migrate(settings: Settings) -> None:
    """Create the schema."""
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    await engine.dispose()


def git(repo: Path, *args: str) -> str:
    """Run the test's own git as a developer would; return stdout."""
    done = subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-c", "user.name=dev",
                           "-c", "user.email=dev@example.com", "-C", str(repo), *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """Make a git repository on main with one commit of the files."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for rel, text in (files or {"calc.py": ORIGINAL}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "initial")
    return path


def token(analysis_id: str, *, ttl: timedelta = timedelta(minutes=15),
          secret: str = SECRET, now: datetime | None = None) -> str:
    """Mint an HS256 approval token."""
    return mint_token(load_settings({"SELFMOD_APPROVAL_SECRET": secret}), analysis_id, "alice",
                      ttl, now=now or datetime.now(UTC))


async def record_analysis(settings: Settings, repo: Path, *, status: str = "approved",
                          score: str = "0.90", files: dict[str, tuple[str, str]] | None = None,
                          count: int = 1) -> dict[str, Any]:
    """Record a finished analysis as the engine does, with signed review branches; return ids.

    The rows and review commits are what the pipeline writes after a real sandbox run; the
    acceptance test drives that run for real, these tests start from its recorded result.
    """
    head = git(repo, "rev-parse", "HEAD")
    engine = create_engine(settings.database_url)
    maker = create_sessionmaker(engine)
    session_id = uuid.uuid4()
    changes = files or {"calc.py": (ORIGINAL, CHANGED)}
    ids = []
    with SafeGit.create() as safe:
        key = load_or_create_key(settings.data_dir / "signing_key")
        writer = ReviewBranchWriter(SignedCommitWriter(safe, key, Author(
            "agent-self-modify", "agent-self-modify@users.noreply.github.com")), session_id)
        async with maker() as db:
            db.add(ModificationSession(id=session_id, codebase_path=str(repo),
                                       modification_goals=["improve_performance"],
                                       status=ModificationStatus.COMPLETED, commit_sha=head,
                                       trigger="api",
                                       completed_at=datetime.now(UTC).replace(tzinfo=None)))
            await db.flush()
            for number, (path, (old, new)) in enumerate(list(changes.items())[:count]):
                mid = uuid.uuid4()
                branch = f"self-mod/{mid}"
                commit = None
                if status == "approved":
                    commit = writer.write(repo, CommitRequest(
                        head, branch, [FileChange(path, old, new)],
                        f"Use sum in {path}\n\nA builtin is faster.\n"))
                db.add(CodeModification(
                    id=mid, session_id=session_id, file_path=path,
                    modification_type="performance",
                    original_content=old, modified_content=new, modification_reason="faster",
                    safety_score=Decimal(score), status=status,
                    title=f"Use sum in {path} ({number})",
                    branch=branch if commit else None, commit_sha=commit, base_sha=head,
                    evidence={"tests": {"passed": 3, "failed": []}},
                    rejection_reasons=[] if status == "approved" else [
                        {"reason": "test_failure", "detail": "1 test failed"}]))
                ids.append(str(mid))
            await db.commit()
    await engine.dispose()
    return {"analysis_id": str(session_id), "ids": ids, "head": head}
