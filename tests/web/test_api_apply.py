"""POST /self-modify/apply and /self-modify/rollback over HTTP on real git repositories."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from apikit import (
    AUTH,
    CHANGED,
    ORIGINAL,
    api_settings,
    git,
    make_repo,
    migrate,
    record_analysis,
    token,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.settings import Settings
from bot.web.app import create_app


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Return the allowed root, holding one repository."""
    folder = tmp_path / "root"
    make_repo(folder / "repo")
    return folder


async def _apply(client: Any, analysis: dict[str, Any], **overrides: Any) -> Any:
    body = {"analysis_id": analysis["analysis_id"], "selected_modifications": analysis["ids"],
            "approval_token": token(analysis["analysis_id"])}
    body.update(overrides)
    return await client.post("/self-modify/apply", json=body, headers=AUTH)


async def test_apply_commits_on_the_branch(client: Any, settings: Settings, root: Path) -> None:
    """An approved suggestion lands on main as a signed commit by agent-self-modify."""
    repo = root / "repo"
    analysis = await record_analysis(settings, repo)
    response = await _apply(client, analysis)
    body = await response.json()
    assert response.status == 200, body
    mid = analysis["ids"][0]
    assert body["modification_id"] == mid and body["status"] == "applied"
    assert git(repo, "rev-parse", "main") == body["git_commit_hash"]
    assert body["previous_commit"] == analysis["head"]
    message = git(repo, "log", "-1", "--format=%an%n%B", "main")
    assert message.startswith("agent-self-modify\nSelf-modification: " + mid)
    assert git(repo, "branch", "--list", f"self-mod/{mid}")
    assert (repo / "calc.py").read_text() == CHANGED  # the checked-out work tree follows
    assert "gpgsig" in git(repo, "cat-file", "commit", "main")


async def test_rollback_resets_to_the_recorded_commit(client: Any, settings: Settings,
                                                      root: Path) -> None:
    """With nothing after it, a rollback puts main back on the commit recorded before."""
    repo = root / "repo"
    analysis = await record_analysis(settings, repo)
    assert (await _apply(client, analysis)).status == 200
    mid = analysis["ids"][0]
    response = await client.post("/self-modify/rollback", headers=AUTH, json={
        "modification_id": mid, "rollback_reason": "Performance regression detected"})
    body = await response.json()
    assert response.status == 200, body
    assert body == {"status": "success", "restored_version": analysis["head"], "kind": "reset",
                    "modification_id": mid}
    assert git(repo, "rev-parse", "HEAD") == analysis["head"]
    assert (repo / "calc.py").read_text() == ORIGINAL
    details = await (await client.get(f"/self-modify/modifications/{mid}", headers=AUTH)).json()
    assert details["rollback_reason"] == "Performance regression detected"
    assert details["rollback_at"] and details["status"] == "rolled_back"
    assert any("rolled back" in e["event"] for e in details["log"])


async def test_rollback_after_later_work_is_a_revert(client: Any, settings: Settings,
                                                     root: Path) -> None:
    """When someone committed after the modification, the rollback adds a revert commit."""
    repo = root / "repo"
    analysis = await record_analysis(settings, repo)
    assert (await _apply(client, analysis)).status == 200
    (repo / "notes.txt").write_text("later work\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-qm", "later work")
    later = git(repo, "rev-parse", "HEAD")
    response = await client.post("/self-modify/rollback", headers=AUTH, json={
        "modification_id": analysis["ids"][0], "rollback_reason": "broke the API"})
    body = await response.json()
    assert response.status == 200 and body["kind"] == "revert", body
    assert git(repo, "rev-parse", "HEAD^") == later
    assert (repo / "calc.py").read_text() == ORIGINAL
    assert (repo / "notes.txt").read_text() == "later work\n"


async def test_missing_token_is_401(client: Any, settings: Settings, root: Path) -> None:
    """Apply without an approval token answers 401."""
    analysis = await record_analysis(settings, root / "repo")
    response = await _apply(client, analysis, approval_token=None)
    assert response.status == 401
    assert (await response.json())["field"] == "approval_token"


async def test_expired_token_is_403(client: Any, settings: Settings, root: Path) -> None:
    """An expired approval token answers 403 and changes nothing."""
    analysis = await record_analysis(settings, root / "repo")
    old = token(analysis["analysis_id"], ttl=timedelta(minutes=1),
                now=datetime.now(UTC) - timedelta(hours=1))
    response = await _apply(client, analysis, approval_token=old)
    assert response.status == 403 and "expired" in (await response.json())["error"]
    assert git(root / "repo", "rev-parse", "main") == analysis["head"]


async def test_token_of_another_analysis_is_403(client: Any, settings: Settings,
                                                root: Path) -> None:
    """A token minted for another analysis answers 403."""
    analysis = await record_analysis(settings, root / "repo")
    other = await record_analysis(settings, root / "repo", count=0)
    response = await _apply(client, analysis, approval_token=token(other["analysis_id"]))
    assert response.status == 403 and "another analysis" in (await response.json())["error"]


async def test_token_with_a_wrong_secret_is_403(client: Any, settings: Settings,
                                                root: Path) -> None:
    """A token signed with another secret answers 403."""
    analysis = await record_analysis(settings, root / "repo")
    forged = token(analysis["analysis_id"], secret="not-the-server-secret-at-all-no-really")
    response = await _apply(client, analysis, approval_token=forged)
    assert response.status == 403 and "not valid" in (await response.json())["error"]


async def test_unsigned_token_is_403(client: Any, settings: Settings, root: Path) -> None:
    """A token with alg none is refused."""
    analysis = await record_analysis(settings, root / "repo")
    claims = {"sub": analysis["analysis_id"], "approver": "mallory", "aud": "selfmod:apply",
              "iat": 0, "exp": 4102444800}
    response = await _apply(client, analysis, approval_token=jwt.encode(claims, None,
                                                                        algorithm="none"))
    assert response.status == 403


async def test_rs256_token_from_the_configured_key(aiohttp_client: Any, tmp_path: Path,
                                                   root: Path) -> None:
    """With a public key configured, an RS256 token minted by `selfmod token` is accepted."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "priv.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (tmp_path / "pub.pem").write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    settings = api_settings(tmp_path, root, SELFMOD_APPROVAL_SECRET="",
                            SELFMOD_APPROVAL_PUBLIC_KEY_PATH=str(tmp_path / "pub.pem"))
    await migrate(settings)
    analysis = await record_analysis(settings, root / "repo")
    env = {"PATH": "/usr/bin:/bin", "SELFMOD_APPROVAL_PRIVATE_KEY_PATH": str(tmp_path / "priv.pem")}
    minted = subprocess.run([sys.executable, "-m", "bot.cli", "token",
                             "--analysis-id", analysis["analysis_id"], "--approver", "bob",
                             "--ttl", "5m"], env=env, capture_output=True, text=True, check=True)
    assert jwt.get_unverified_header(minted.stdout.strip())["alg"] == "RS256"
    client = await aiohttp_client(create_app(settings))
    response = await _apply(client, analysis, approval_token=minted.stdout.strip())
    assert response.status == 200, await response.json()
    details = await (await client.get(f"/self-modify/modifications/{analysis['ids'][0]}",
                                      headers=AUTH)).json()
    assert details["applied"]["approver"] == "bob"


async def test_rejected_suggestion_cannot_be_applied(client: Any, settings: Settings,
                                                     root: Path) -> None:
    """A suggestion the validation rejected is refused whatever the token says."""
    analysis = await record_analysis(settings, root / "repo", status="rejected")
    response = await _apply(client, analysis)
    body = await response.json()
    assert response.status == 409 and "not approved by the validation" in body["error"]
    assert "test_failure" in body["error"]


async def test_unknown_analysis_is_404(client: Any) -> None:
    """Apply on an analysis that does not exist answers 404."""
    missing = "00000000-0000-4000-8000-000000000000"
    response = await _apply(client, {"analysis_id": missing, "ids": [missing]})
    assert response.status == 404


async def test_suggestion_of_another_analysis_is_404(client: Any, settings: Settings,
                                                     root: Path) -> None:
    """A selected id that is not a suggestion of this analysis answers 404 naming the field."""
    analysis = await record_analysis(settings, root / "repo")
    other = await record_analysis(settings, root / "repo", files={"x.py": ("a = 1\n", "a = 2\n")})
    response = await _apply(client, analysis, selected_modifications=other["ids"])
    assert response.status == 404
    assert (await response.json())["field"] == "selected_modifications[0]"


async def test_rollback_of_a_never_applied_modification_is_409(
        client: Any, settings: Settings, root: Path) -> None:
    """Rolling back what was never applied answers 409 and says so."""
    analysis = await record_analysis(settings, root / "repo")
    response = await client.post("/self-modify/rollback", headers=AUTH, json={
        "modification_id": analysis["ids"][0], "rollback_reason": "why not"})
    assert response.status == 409 and "never applied" in (await response.json())["error"]


async def test_second_rollback_is_409(client: Any, settings: Settings, root: Path) -> None:
    """A modification already rolled back cannot be rolled back again."""
    analysis = await record_analysis(settings, root / "repo")
    assert (await _apply(client, analysis)).status == 200
    body = {"modification_id": analysis["ids"][0], "rollback_reason": "regression"}
    assert (await client.post("/self-modify/rollback", headers=AUTH, json=body)).status == 200
    again = await client.post("/self-modify/rollback", headers=AUTH, json=body)
    assert again.status == 409 and "already rolled back" in (await again.json())["error"]


async def test_unknown_modification_rollback_is_404(client: Any) -> None:
    """Rolling back an unknown id answers 404."""
    response = await client.post("/self-modify/rollback", headers=AUTH, json={
        "modification_id": "00000000-0000-4000-8000-000000000000", "rollback_reason": "x"})
    assert response.status == 404


async def test_two_applies_at_once_apply_once(client: Any, settings: Settings,
                                              root: Path) -> None:
    """Two simultaneous applies of one suggestion: one applies, the other is refused."""
    analysis = await record_analysis(settings, root / "repo")
    first, second = await asyncio.gather(_apply(client, analysis), _apply(client, analysis))
    assert sorted([first.status, second.status]) == [200, 409]
    assert git(root / "repo", "rev-list", "--count", "main") == "2"


async def test_two_suggestions_are_chained(client: Any, settings: Settings, root: Path) -> None:
    """Two selected suggestions become two signed commits in order; rolling back the first
    reverts it and keeps the second."""
    repo = root / "repo"
    (repo / "other.py").write_text("a = 1\n")
    git(repo, "add", "other.py")
    git(repo, "commit", "-qm", "other")
    analysis = await record_analysis(settings, repo, count=2, files={
        "calc.py": (ORIGINAL, CHANGED), "other.py": ("a = 1\n", "a = 2\n")})
    response = await _apply(client, analysis)
    body = await response.json()
    assert response.status == 200, body
    assert [m["kind"] for m in body["modifications"]] == ["fast-forward", "cherry-pick"]
    assert (repo / "calc.py").read_text() == CHANGED
    assert (repo / "other.py").read_text() == "a = 2\n"
    rolled = await client.post("/self-modify/rollback", headers=AUTH, json={
        "modification_id": analysis["ids"][0], "rollback_reason": "first was wrong"})
    assert (await rolled.json())["kind"] == "revert"
    assert (repo / "calc.py").read_text() == ORIGINAL
    assert (repo / "other.py").read_text() == "a = 2\n"


async def test_branch_moved_since_analysis_is_409(client: Any, settings: Settings,
                                                  root: Path) -> None:
    """When main moved after the analysis, apply refuses and leaves the suggestion approved."""
    repo = root / "repo"
    analysis = await record_analysis(settings, repo)
    (repo / "notes.txt").write_text("x\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-qm", "moved")
    response = await _apply(client, analysis)
    body = await response.json()
    assert response.status == 409 and body["status"] == "failed" and "moved" in body["error"]
    details = await (await client.get(f"/self-modify/modifications/{analysis['ids'][0]}",
                                      headers=AUTH)).json()
    assert details["status"] == "approved"


async def test_apply_and_rollback_do_not_interleave(client: Any, settings: Settings,
                                                    root: Path) -> None:
    """An apply and a rollback sent together end in one consistent state."""
    repo = root / "repo"
    analysis = await record_analysis(settings, repo)
    rollback = client.post("/self-modify/rollback", headers=AUTH, json={
        "modification_id": analysis["ids"][0], "rollback_reason": "race"})
    applied, rolled = await asyncio.gather(_apply(client, analysis), rollback)
    assert applied.status == 200
    details = await (await client.get(f"/self-modify/modifications/{analysis['ids'][0]}",
                                      headers=AUTH)).json()
    if rolled.status == 200:
        assert details["status"] == "rolled_back"
        assert git(repo, "rev-parse", "main") == analysis["head"]
    else:
        assert rolled.status == 409 and details["status"] == "applied"
        assert git(repo, "rev-parse", "main") == details["commit"]


async def test_database_claim_is_compare_and_set(settings: Settings, root: Path) -> None:
    """Two processes claiming one modification: only the first claim succeeds."""
    from bot.store.db import create_engine, create_sessionmaker
    from bot.web.api.claims import claim

    analysis = await record_analysis(settings, root / "repo")
    ids = [uuid.UUID(analysis["ids"][0])]
    engines = [create_engine(settings.database_url) for _ in range(2)]
    try:
        first = await claim(create_sessionmaker(engines[0]), ids, "approved", "applying")
        second = await claim(create_sessionmaker(engines[1]), ids, "approved", "applying")
    finally:
        for engine in engines:
            await engine.dispose()
    assert (first, second) == (True, False)
