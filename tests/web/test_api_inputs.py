"""Bad input to the REST API: authentication, bodies, paths and ids each get a clear error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from apikit import API_TOKEN, AUTH, api_settings, make_repo, migrate

from bot.web.app import create_app


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Return the allowed root with a repository and a plain folder in it."""
    folder = tmp_path / "root"
    make_repo(folder / "repo")
    (folder / "plain").mkdir()
    return folder


async def _analyze(client: Any, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/self-modify/analyze", json=body, headers=AUTH)
    return response.status, await response.json()


class TestAuthentication:
    """Every endpoint needs the bearer token."""

    @pytest.mark.parametrize("path", ["/self-modify/analyze", "/self-modify/apply",
                                      "/self-modify/rollback"])
    async def test_no_token_is_401(self, client: Any, path: str) -> None:
        """A request without Authorization answers 401 with a challenge."""
        response = await client.post(path, json={})
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    async def test_wrong_token_is_401(self, client: Any) -> None:
        """A wrong bearer token answers 401."""
        response = await client.get("/self-modify/sessions/x",
                                    headers={"Authorization": "Bearer nope"})
        assert response.status == 401 and "wrong" in (await response.json())["error"]

    async def test_basic_scheme_is_401(self, client: Any) -> None:
        """The token under another scheme does not count."""
        response = await client.get("/self-modify/sessions/x",
                                    headers={"Authorization": f"Basic {API_TOKEN}"})
        assert response.status == 401

    async def test_server_without_token_is_closed(self, aiohttp_client: Any, tmp_path: Path,
                                                  root: Path) -> None:
        """Without SELFMOD_API_TOKEN the API refuses everyone."""
        settings = api_settings(tmp_path, root, SELFMOD_API_TOKEN="")
        await migrate(settings)
        client = await aiohttp_client(create_app(settings))
        response = await client.post("/self-modify/analyze", json={}, headers=AUTH)
        assert response.status == 401 and "SELFMOD_API_TOKEN" in (await response.json())["error"]

    async def test_openapi_is_public(self, client: Any) -> None:
        """The OpenAPI description is served without a token and names every endpoint."""
        response = await client.get("/openapi.json")
        spec = await response.json()
        assert response.status == 200 and spec["openapi"].startswith("3.")
        assert {"/self-modify/analyze", "/self-modify/apply", "/self-modify/rollback",
                "/self-modify/sessions/{id}", "/self-modify/modifications/{id}"} <= set(
                    spec["paths"])


class TestAnalyzeBody:
    """The analyze body is validated field by field."""

    async def test_unknown_goal(self, client: Any, root: Path) -> None:
        """An unknown goal is a 400 naming the goal's position."""
        status, body = await _analyze(client, codebase_path=str(root / "repo"),
                                      modification_goals=["world_domination"])
        assert status == 400 and body["field"] == "modification_goals[0]"
        assert "world_domination" in body["error"]

    async def test_unknown_safety_level(self, client: Any, root: Path) -> None:
        """An unknown safety level is a 400 naming safety_level."""
        status, body = await _analyze(client, codebase_path=str(root / "repo"),
                                      safety_level="reckless")
        assert status == 400 and body["field"] == "safety_level"

    async def test_missing_path(self, client: Any) -> None:
        """A body without codebase_path is a 400 naming it."""
        status, body = await _analyze(client, modification_goals=["fix_bugs"])
        assert status == 400 and body["field"] == "codebase_path" and "required" in body["error"]

    async def test_goals_not_a_list(self, client: Any, root: Path) -> None:
        """Goals given as a string are a 400."""
        status, body = await _analyze(client, codebase_path=str(root / "repo"),
                                      modification_goals="fix_bugs")
        assert status == 400 and body["field"] == "modification_goals"

    async def test_not_json(self, client: Any) -> None:
        """A body that is not JSON is a 400."""
        response = await client.post("/self-modify/analyze", data=b"{nope", headers=AUTH)
        assert response.status == 400 and "JSON" in (await response.json())["error"]

    async def test_not_an_object(self, client: Any) -> None:
        """A JSON array is a 400."""
        response = await client.post("/self-modify/analyze", json=[1], headers=AUTH)
        assert response.status == 400

    async def test_relative_path(self, client: Any) -> None:
        """A relative path is a 400."""
        status, body = await _analyze(client, codebase_path="repo")
        assert status == 400 and "absolute" in body["error"]


class TestAnalyzePath:
    """Only git repositories inside SELFMOD_API_ROOTS are analysed."""

    async def test_outside_the_roots(self, client: Any, tmp_path: Path) -> None:
        """A repository outside every root is a 403."""
        make_repo(tmp_path / "elsewhere")
        status, body = await _analyze(client, codebase_path=str(tmp_path / "elsewhere"))
        assert status == 403 and "outside the allowed roots" in body["error"]

    async def test_dot_dot_out_of_a_root(self, client: Any, root: Path, tmp_path: Path) -> None:
        """A path that climbs out of a root with `..` is a 403."""
        make_repo(tmp_path / "elsewhere")
        status, _ = await _analyze(client, codebase_path=f"{root}/repo/../../elsewhere")
        assert status == 403

    async def test_symlink_out_of_a_root(self, client: Any, root: Path, tmp_path: Path) -> None:
        """A symlink inside a root that points outside is a 403."""
        make_repo(tmp_path / "elsewhere")
        os.symlink(tmp_path / "elsewhere", root / "link")
        status, _ = await _analyze(client, codebase_path=str(root / "link"))
        assert status == 403

    async def test_prefix_sibling_is_outside(self, client: Any, root: Path) -> None:
        """A sibling whose name starts like the root is not inside it."""
        make_repo(Path(f"{root}-sibling"))
        status, _ = await _analyze(client, codebase_path=f"{root}-sibling")
        assert status == 403

    async def test_git_folder_outside_the_roots(self, client: Any, root: Path,
                                                tmp_path: Path) -> None:
        """A `.git` file pointing at a git folder outside the roots is a 403."""
        outside = make_repo(tmp_path / "elsewhere")
        (root / "pointer").mkdir()
        (root / "pointer" / ".git").write_text(f"gitdir: {outside / '.git'}\n")
        status, body = await _analyze(client, codebase_path=str(root / "pointer"))
        assert status == 403 and "git folder" in body["error"]

    async def test_not_a_git_repository(self, client: Any, root: Path) -> None:
        """A plain folder is a 422 saying it is not a git repository."""
        status, body = await _analyze(client, codebase_path=str(root / "plain"))
        assert status == 422 and "not a git repository" in body["error"]

    async def test_missing_folder(self, client: Any, root: Path) -> None:
        """A path that does not exist is a 422."""
        status, body = await _analyze(client, codebase_path=str(root / "nothing"))
        assert status == 422 and "not an existing folder" in body["error"]

    async def test_no_roots_configured(self, aiohttp_client: Any, tmp_path: Path,
                                       root: Path) -> None:
        """Without SELFMOD_API_ROOTS every path is refused."""
        settings = api_settings(tmp_path, root, SELFMOD_API_ROOTS="")
        await migrate(settings)
        client = await aiohttp_client(create_app(settings))
        status, body = await _analyze(client, codebase_path=str(root / "repo"))
        assert status == 403 and "SELFMOD_API_ROOTS" in body["error"]


class TestApplyAndRollbackBodies:
    """Apply and rollback bodies are validated before anything else."""

    async def test_apply_missing_analysis_id(self, client: Any) -> None:
        """Apply without analysis_id is a 400 naming it."""
        response = await client.post("/self-modify/apply", headers=AUTH, json={
            "selected_modifications": ["x"], "approval_token": "t"})
        assert response.status == 400 and (await response.json())["field"] == "analysis_id"

    async def test_apply_bad_selected_id(self, client: Any) -> None:
        """A selected id that is not a UUID is a 400 naming its position."""
        response = await client.post("/self-modify/apply", headers=AUTH, json={
            "analysis_id": "00000000-0000-4000-8000-000000000000",
            "selected_modifications": ["mod_001"], "approval_token": "t"})
        body = await response.json()
        assert response.status == 400 and body["field"] == "selected_modifications[0]"

    async def test_apply_empty_selection(self, client: Any) -> None:
        """An empty selection is a 400."""
        response = await client.post("/self-modify/apply", headers=AUTH, json={
            "analysis_id": "00000000-0000-4000-8000-000000000000",
            "selected_modifications": [], "approval_token": "t"})
        assert response.status == 400

    async def test_rollback_missing_reason(self, client: Any) -> None:
        """A rollback without a reason is a 400 naming rollback_reason."""
        response = await client.post("/self-modify/rollback", headers=AUTH, json={
            "modification_id": "00000000-0000-4000-8000-000000000000"})
        assert response.status == 400 and (await response.json())["field"] == "rollback_reason"


class TestReadEndpoints:
    """Sessions and modifications are read by id."""

    async def test_unknown_session_is_404(self, client: Any) -> None:
        """An unknown analysis id answers 404."""
        response = await client.get("/self-modify/sessions/00000000-0000-4000-8000-000000000000",
                                    headers=AUTH)
        assert response.status == 404

    async def test_unknown_modification_is_404(self, client: Any) -> None:
        """An unknown modification id answers 404."""
        response = await client.get(
            "/self-modify/modifications/00000000-0000-4000-8000-000000000000", headers=AUTH)
        assert response.status == 404

    async def test_bad_id_is_400(self, client: Any) -> None:
        """An id that is not a UUID answers 400."""
        response = await client.get("/self-modify/sessions/mod_001", headers=AUTH)
        assert response.status == 400
