"""Fixtures for sandbox tests: the real Docker engine, the sandbox image, canaries."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from bot.sandbox.command import find_build_script
from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker
from bot.sandbox.runner import OWNER_LABEL, SandboxRunner

DEFAULT_TEST_IMAGE = "selfmod-sandbox:latest"


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The image sandbox tests run; built by scripts/build-sandbox-image.sh."""
    return os.environ.get("SELFMOD_SANDBOX_IMAGE") or DEFAULT_TEST_IMAGE


@pytest.fixture(scope="session")
def docker_client(sandbox_image: str) -> Iterator[docker.DockerClient]:
    """A client of the real engine with the image built; fails (never skips) without an engine."""
    client = open_docker(DEFAULT_DOCKER_HOST)
    try:
        client.images.get(sandbox_image)
    except docker.errors.ImageNotFound:
        _build_image(sandbox_image)
    yield client
    client.close()


def _build_image(tag: str) -> None:
    """Build the sandbox image with the repository's script, or fail saying why."""
    script = find_build_script()
    done = subprocess.run(["bash", str(script), "--tag", tag], capture_output=True, text=True,
                          check=False, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"{tag} is missing and {script.name} failed (exit {done.returncode}):\n"
                    f"{done.stderr[-3000:]}")


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A secret in the host environment and a secret file on the host, outside any work copy."""
    secret = "CANARY-" + secrets.token_hex(12)
    monkeypatch.setenv("SELFMOD_TEST_CANARY", secret)
    secret_file = tmp_path / "host-secret.txt"
    file_secret = "FILECANARY-" + secrets.token_hex(12)
    secret_file.write_text(file_secret)
    return {"env": secret, "file": str(secret_file), "file_content": file_secret}


@pytest.fixture
def sandbox_owner() -> str:
    """This test's owner label: other people's sandbox runs may share the engine."""
    return f"test-{secrets.token_hex(6)}"


@pytest.fixture
def leftovers(docker_client: docker.DockerClient, sandbox_owner: str) -> Callable[[], list[Any]]:
    """Return a function listing this test's sandbox containers and volumes still present."""
    def find() -> list[Any]:
        mine = {"label": f"{OWNER_LABEL}={sandbox_owner}"}
        found: list[Any] = docker_client.containers.list(all=True, filters=mine)
        return found + docker_client.volumes.list(filters=mine)
    return find


@pytest.fixture
def runner(docker_client: docker.DockerClient, sandbox_owner: str,
           leftovers: Callable[[], list[Any]]) -> Iterator[SandboxRunner]:
    """A runner that passes the whole host environment, so only the allow-list protects it."""
    yield SandboxRunner(docker_client, engine_url=DEFAULT_DOCKER_HOST, host_env=dict(os.environ),
                        owner=sandbox_owner)
    assert leftovers() == [], "sandbox containers or volumes left behind"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty work folder beside (not containing) the canary file."""
    path = tmp_path / "repo"
    path.mkdir()
    return path
