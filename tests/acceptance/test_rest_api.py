"""The PRD's stories through the REST API: real repositories, real sandbox runs, over HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings, load_settings
from bot.store.db import create_engine, create_sessionmaker
from bot.store.migrate import upgrade
from bot.store.models import ModificationSession
from bot.web.app import create_app
from bot.web.approval import mint_token

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = os.environ.get("SELFMOD_SANDBOX_IMAGE") or "selfmod-sandbox:latest"
AUTH = {"Authorization": "Bearer acceptance-token"}
SECRET = "acceptance-approval-secret-32-bytes!"


async def _settings(tmp_path: Path, wait: float) -> Settings:
    settings = load_settings({
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        "SELFMOD_API_TOKEN": "acceptance-token", "SELFMOD_API_ROOTS": str(tmp_path),
        "SELFMOD_APPROVAL_SECRET": SECRET, "SELFMOD_DATA_DIR": str(tmp_path / "data"),
        "SELFMOD_SANDBOX_IMAGE": IMAGE, "SELFMOD_API_WAIT_SECONDS": str(wait)})
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    await engine.dispose()
    return settings


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


async def _analysed(aiohttp_client: Any, fixture_repo: Callable[[str], Path], tmp_path: Path,
                    wait: float) -> tuple[Any, Path, dict[str, Any], int]:
    """Start an app, analyse the quadratic fixture; return client, repo, answer, first status."""
    repo = fixture_repo("quadratic")
    client = await aiohttp_client(create_app(await _settings(tmp_path, wait)))
    response = await client.post("/self-modify/analyze", headers=AUTH, json={
        "codebase_path": str(repo), "modification_goals": ["improve_performance", "fix_bugs"],
        "safety_level": "conservative"})
    first = response.status
    answer = await response.json()
    if first == 202:
        location = response.headers["Location"]
        for _ in range(600):
            answer = await (await client.get(location, headers=AUTH)).json()
            if answer["finished"]:
                break
            await asyncio.sleep(1)
    return client, repo, answer, first


async def _apply(client: Any, answer: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    approved = [s for s in answer["suggestions"] if s["status"] == "approved"]
    assert approved, answer
    mid = approved[0]["id"]
    token = mint_token(load_settings({"SELFMOD_APPROVAL_SECRET": SECRET}), answer["analysis_id"],
                       "admin", timedelta(minutes=15), now=datetime.now(UTC))
    response = await client.post("/self-modify/apply", headers=AUTH, json={
        "analysis_id": answer["analysis_id"], "selected_modifications": [mid],
        "approval_token": token})
    body = await response.json()
    assert response.status == 200, body
    return mid, body


async def test_codebase_analysis(aiohttp_client: Any, fixture_repo: Callable[[str], Path],
        tmp_path: Path) -> None:
    """Analysis of a codebase with a performance issue answers 200 with safe, measured
    suggestions."""
    _, _, answer, status = await _analysed(aiohttp_client, fixture_repo, tmp_path, wait=600)
    assert status == 200, answer
    assert answer["status"] == "completed"
    suggestions = answer["suggestions"]
    assert len(suggestions) > 0
    for suggestion in suggestions:
        assert suggestion["safety_score"] >= 0.7
        assert suggestion["modification_type"] in ["bug_fix", "performance", "refactor"]
        assert "original_code" in suggestion and "modified_code" in suggestion
        assert "reasoning" in suggestion and suggestion["id"]
    approved = [s for s in suggestions if s["status"] == "approved"]
    assert approved and approved[0]["evidence"]["benchmark"]["improvement"] > 0.2
    assert {m["metric_name"] for m in approved[0]["metrics"]} >= {"execution_time_seconds"}
    assert any(run["execution_type"] == "unit_test" for run in answer["sandbox_executions"])


async def test_version_control_integration(aiohttp_client: Any, fixture_repo: Callable[[str], Path],
        tmp_path: Path) -> None:
    """An approved suggestion applied with a token is a signed commit by agent-self-modify,
    with its review branch."""
    client, repo, answer, status = await _analysed(aiohttp_client, fixture_repo, tmp_path, wait=0)
    assert status == 202 and answer["status"] == "completed", answer
    mid, result = await _apply(client, answer)
    assert result["git_commit_hash"] == _git(repo, "rev-parse", "HEAD")
    author, message = _git(repo, "log", "-1", "--format=%an%x00%B",
                           result["git_commit_hash"]).split("\0", 1)
    assert "Self-modification:" in message and mid in message
    assert author == "agent-self-modify"
    assert _git(repo, "branch", "--list", f"self-mod/{mid}")
    assert "popleft()" in (repo / "graphs" / "walk.py").read_text()


async def test_modification_rollback(aiohttp_client: Any, fixture_repo: Callable[[str], Path],
        tmp_path: Path) -> None:
    """Rolling back an applied modification puts HEAD back on the original commit and logs
    why."""
    client, repo, answer, _ = await _analysed(aiohttp_client, fixture_repo, tmp_path, wait=600)
    original_commit = _git(repo, "rev-parse", "HEAD")
    mid, _ = await _apply(client, answer)
    assert _git(repo, "rev-parse", "HEAD") != original_commit
    response = await client.post("/self-modify/rollback", headers=AUTH, json={
        "modification_id": mid, "rollback_reason": "Performance regression detected"})
    result = await response.json()
    assert response.status == 200 and result["status"] == "success", result
    assert _git(repo, "rev-parse", "HEAD") == original_commit
    assert result["restored_version"] == original_commit
    log = await (await client.get(f"/self-modify/modifications/{mid}", headers=AUTH)).json()
    assert log["rollback_reason"] == "Performance regression detected"
    assert _git(repo, "status", "--porcelain") == ""


async def test_an_analysis_installs_the_repository_s_test_dependencies(
        aiohttp_client: Any, fixture_repo: Callable[[str], Path], tmp_path: Path) -> None:
    """The API builds the repository's environment (requirements.txt) as `selfmod run` does."""
    repo = fixture_repo("needs_dependency")
    settings = await _settings(tmp_path, 600)
    client = await aiohttp_client(create_app(settings))
    response = await client.post("/self-modify/analyze", headers=AUTH, json={
        "codebase_path": str(repo), "modification_goals": ["improve_performance"],
        "safety_level": "conservative"})
    answer = await response.json()
    assert response.status == 200 and answer["status"] == "completed", answer
    engine = create_engine(settings.database_url)
    async with create_sessionmaker(engine)() as db:
        session = await db.get(ModificationSession, uuid.UUID(answer["analysis_id"]))
    await engine.dispose()
    assert session is not None
    assert session.report["baseline_tests"] == {"passed": 1, "failed": [],
                                                "seconds": session.report["baseline_tests"][
                                                    "seconds"]}, session.report
