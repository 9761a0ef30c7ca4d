"""schemathesis against /openapi.json of a running server: no 5xx, no answer off the schema."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from apikit import API_TOKEN, api_settings, make_repo, migrate, record_analysis

from bot.web.app import create_app

pytestmark = pytest.mark.slow
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")


async def test_schemathesis_finds_nothing(aiohttp_server: Any, tmp_path: Path) -> None:
    """Generated requests (valid and invalid) get documented, schema-conforming answers."""
    root = tmp_path / "root"
    make_repo(root / "repo")
    settings = api_settings(tmp_path, root)
    await migrate(settings)
    await record_analysis(settings, root / "repo")
    server = await aiohttp_server(create_app(settings))
    schemathesis = Path(sys.executable).parent / "schemathesis"
    process = await asyncio.create_subprocess_exec(
        str(schemathesis), "run", str(server.make_url("/openapi.json")), "--checks", CHECKS,
        "--header", f"Authorization: Bearer {API_TOKEN}", "--max-examples", "40",
        "--seed", "1", "--workers", "1", "--phases", "examples,coverage,fuzzing",
        "--generation-deterministic",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=500)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    assert "Tested: 5" in text and " passed" in text, text[-3000:]
