"""The app's Docker image: it builds with no registry, runs as non-root, and answers /healthz."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STANDARD_BASE = "python:3.11-slim"
# Where no registry answers, the sandbox base (Debian bookworm, python3 3.11, venv) stands in,
# with the one library python:3.11-slim has and it lacks (greenlet needs libstdc++), taken from
# this Debian bookworm host.
SANDBOX_BASE = "selfmod-sandbox:latest"
LOCAL_BASE = "selfmod-app-base:bookworm"
LIBSTDCXX = Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6")


def _docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed:\n{done.stdout[-3000:]}"
                             f"\n{done.stderr[-3000:]}")
    return done.stdout.strip()


def _has_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True,
                          timeout=60).returncode == 0


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Build the image from the repository's Dockerfile with a host-built wheelhouse."""
    context = tmp_path_factory.mktemp("image-context")
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(ROOT / "bot", context / "bot",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # pip inside a build container has no CA bundle for the index here: wheels come from
    # the host, as the Dockerfile documents.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", ".[postgres]", "-w",
                    str(context / "wheelhouse")], cwd=context, check=True, timeout=900,
                   capture_output=True)
    tag = f"selfmod-app-test:{uuid.uuid4().hex[:8]}"
    base = []
    if not _has_image(STANDARD_BASE):
        _build_local_base(tmp_path_factory.mktemp("base-context"))
        base = ["--build-arg", f"BASE_IMAGE={LOCAL_BASE}"]
    _docker("build", "-q", "-t", tag, *base, str(context), timeout=900)
    yield tag
    _docker("image", "rm", "-f", tag, check=False)


def _build_local_base(context: Path) -> None:
    shutil.copy(LIBSTDCXX.resolve(), context / "libstdc++.so.6")
    (context / "Dockerfile").write_text(
        f"FROM {SANDBOX_BASE}\nUSER root\n"
        f"COPY libstdc++.so.6 {LIBSTDCXX}\nUSER 10001\n")
    _docker("build", "-q", "-t", LOCAL_BASE, str(context), timeout=300)


@pytest.fixture
def volume() -> Iterator[str]:
    """A named volume for the container's data folder."""
    name = f"selfmod-app-test-{uuid.uuid4().hex[:8]}"
    _docker("volume", "create", name)
    yield name
    _docker("volume", "rm", "-f", name, check=False)


def _app_env() -> list[str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    env = {"DATABASE_URL": "sqlite+aiosqlite:////var/lib/selfmod/data/selfmod.db",
           "GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": key, "GITHUB_WEBHOOK_SECRET": "s"}
    return [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]


def test_image_serves_healthz_as_non_root(image: str, volume: str) -> None:
    """The default command serves /healthz on 8080, as a non-root user, and turns healthy."""
    env = _app_env()
    mount = ["-v", f"{volume}:/var/lib/selfmod/data"]
    _docker("run", "--rm", *mount, *env, image, "selfmod", "db", "upgrade", timeout=180)
    container = _docker("run", "-d", *mount, *env, "-p", "127.0.0.1::8080", image)
    try:
        assert _docker("exec", container, "id", "-u") != "0"
        port = _docker("port", container, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        body = _wait_for(f"http://127.0.0.1:{port}/healthz", seconds=60)
        assert json.loads(body) == {"status": "ok"}
        assert _wait_healthy(container, seconds=90) == "healthy"
    finally:
        _docker("rm", "-f", container, check=False)


def _wait_for(url: str, *, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _wait_healthy(container: str, *, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    status = ""
    while time.monotonic() < deadline:
        status = _docker("inspect", "-f", "{{.State.Health.Status}}", container)
        if status in ("healthy", "unhealthy"):
            return status
        time.sleep(1)
    return status
