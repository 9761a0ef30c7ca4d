"""Environment images against the real engine: offline installs, cache hits, failures."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from bot.errors import ConfigError, SandboxError
from bot.sandbox.deps import EnvConfig, find_dependencies
from bot.sandbox.envimage import (
    ENV_LABEL,
    ENV_REPOSITORY,
    EnvBuildLimits,
    EnvImageBuilder,
    build_env_key,
    build_install_script,
)
from bot.sandbox.runner import SandboxRequest, SandboxRunner
from bot.settings import load_settings

OFFLINE = "--no-index\n--find-links wheels\n"


def build_wheel(folder: Path, name: str, version: str, module: str) -> Path:
    """Write a minimal pure-Python wheel holding one module; return its path."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": module.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = []
    for rel, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{rel},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for rel, data in files.items():
            wheel.writestr(rel, data)
    return path


@pytest.fixture
def builder(docker_client: docker.DockerClient) -> Iterator[EnvImageBuilder]:
    """A builder whose images are removed after the test."""
    before = {image.id for image in docker_client.images.list(ENV_REPOSITORY)}
    yield EnvImageBuilder(docker_client, engine_url="unix:///var/run/docker.sock",
                          limits=EnvBuildLimits(timeout=120, memory_bytes=512 << 20))
    for image in docker_client.images.list(ENV_REPOSITORY):
        if image.id not in before:
            docker_client.images.remove(image.id, force=True)
    # Build containers carry the env label; other people's sandbox runs may share the engine.
    assert docker_client.containers.list(all=True, filters={"label": ENV_LABEL}) == []
    assert docker_client.volumes.list(filters={"label": ENV_LABEL}) == []


def _offline_repo(root: Path, token: str) -> Path:
    build_wheel(root / "wheels", "selfmod_tiny", "1.0", f"VALUE = {token!r}\n")
    (root / "requirements.txt").write_text(OFFLINE + "selfmod_tiny==1.0\n")
    (root / "app.py").write_text("import selfmod_tiny\n")
    return root


@pytest.mark.docker
async def test_a_local_wheel_is_installed_offline_and_usable_in_runs(
        builder: EnvImageBuilder, runner: SandboxRunner, sandbox_image: str,
        tmp_path: Path) -> None:
    """The env image holds the dependency, and the repository's code is not in it."""
    token = os.urandom(6).hex()
    repo = _offline_repo(tmp_path / "repo", token)
    env = await builder.ensure(repo, sandbox_image)
    assert env.built and env.image.startswith(f"{ENV_REPOSITORY}:")
    result = await runner.run(SandboxRequest(
        workdir=repo, image=env.image, command=["python", "-c", (
            "import os, selfmod_tiny; print(selfmod_tiny.VALUE);"
            "print('BUILD_DIR', os.path.exists('/selfmod-build') and os.listdir('/selfmod-build'));"
            "print('CODE', any('app.py' in f for _, _, fs in os.walk('/opt') for f in fs))")]))
    assert result.exit_code == 0, result.stderr
    assert token in result.stdout
    # The build's mount point stays as an empty folder: no CA bundle, script or file in it.
    assert "BUILD_DIR []" in result.stdout and "CODE False" in result.stdout


@pytest.mark.docker
async def test_a_second_call_reuses_the_image(builder: EnvImageBuilder, sandbox_image: str,
                                              docker_client: docker.DockerClient,
                                              tmp_path: Path) -> None:
    """Same dependency files, same base: the tag exists, and nothing is built again."""
    repo = _offline_repo(tmp_path / "repo", "same")
    first = await builder.ensure(repo, sandbox_image)
    image_id = docker_client.images.get(first.image).id
    (repo / "app.py").write_text("changed code does not change the environment\n")
    second = await builder.ensure(repo, sandbox_image)
    assert first.built and not second.built
    assert second.image == first.image and docker_client.images.get(second.image).id == image_id


@pytest.mark.docker
async def test_changed_dependencies_build_a_new_image(builder: EnvImageBuilder,
                                                      sandbox_image: str, tmp_path: Path) -> None:
    """A changed requirements file gives a different key and image."""
    repo = _offline_repo(tmp_path / "repo", "one")
    first = await builder.ensure(repo, sandbox_image)
    (repo / "requirements.txt").write_text(OFFLINE + "selfmod_tiny>=1.0\n")
    second = await builder.ensure(repo, sandbox_image)
    assert second.built and second.image != first.image


@pytest.mark.docker
async def test_no_dependencies_means_the_base_image(builder: EnvImageBuilder,
                                                    sandbox_image: str, tmp_path: Path,
                                                    docker_client: docker.DockerClient) -> None:
    """A repository with nothing to install runs on the base image, and nothing is built."""
    (tmp_path / "app.py").write_text("x = 1\n")
    before = len(docker_client.images.list(ENV_REPOSITORY))
    env = await builder.ensure(tmp_path, sandbox_image)
    assert (env.image, env.built, env.key) == (sandbox_image, False, None)
    assert len(docker_client.images.list(ENV_REPOSITORY)) == before


@pytest.mark.docker
async def test_a_failing_install_is_a_clear_error_with_pip_output(
        builder: EnvImageBuilder, sandbox_image: str, tmp_path: Path) -> None:
    """pip's own error comes back in the SandboxError, and no image is tagged."""
    (tmp_path / "requirements.txt").write_text("--no-index\nselfmod-no-such-package==9.9\n")
    with pytest.raises(SandboxError) as caught:
        await builder.ensure(tmp_path, sandbox_image)
    message = str(caught.value)
    assert "installing the test dependencies failed (exit 1)" in message
    assert "No matching distribution found for selfmod-no-such-package" in message


CHECK_SCRIPT = """
import os, sys
status = open("/proc/self/status").read()
assert "CapEff:\\t0000000000000000" in status, status
assert "NoNewPrivs:\\t1" in status, status
assert not os.path.exists(sys.argv[1]), "host file visible"
assert not any("CANARY" in value for value in os.environ.values()), "host env visible"
assert sorted(os.listdir(".")) == ["ci"], os.listdir(".")
print("checked")
"""


@pytest.mark.docker
async def test_the_setup_command_runs_unprivileged_without_the_host(
        builder: EnvImageBuilder, sandbox_image: str, tmp_path: Path,
        canary: dict[str, str]) -> None:
    """A setup command sees neither the host's environment nor its files nor the code."""
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "check.py").write_text(CHECK_SCRIPT)
    (tmp_path / "app.py").write_text("code\n")
    env = await builder.ensure(tmp_path, sandbox_image, EnvConfig(
        setup_command=f"python ci/check.py {canary['file']}", extra_files=("ci/check.py",)))
    assert env.built


@pytest.mark.docker
async def test_a_build_past_its_timeout_is_stopped(docker_client: docker.DockerClient,
                                                   sandbox_image: str, tmp_path: Path) -> None:
    """A hanging install is killed at the timeout, with a clear error and no container left."""
    builder = EnvImageBuilder(docker_client, engine_url="x",
                              limits=EnvBuildLimits(timeout=2, memory_bytes=256 << 20))
    with pytest.raises(SandboxError, match="longer than 2 s"):
        await builder.ensure(tmp_path, sandbox_image, EnvConfig(setup_command="sleep 60"))
    assert docker_client.containers.list(all=True, filters={"label": ENV_LABEL}) == []


@pytest.mark.docker
async def test_a_missing_base_image_is_a_clear_error(builder: EnvImageBuilder,
                                                     tmp_path: Path) -> None:
    """A missing base image names the command that builds it."""
    (tmp_path / "requirements.txt").write_text("attrs\n")
    with pytest.raises(SandboxError, match="build-image"):
        await builder.ensure(tmp_path, "selfmod-no-such-image:latest")


@pytest.mark.docker
async def test_a_missing_base_image_is_a_clear_error_without_dependencies(
        builder: EnvImageBuilder, tmp_path: Path) -> None:
    """A repository that declares nothing still needs the base image: said here, not later."""
    (tmp_path / "calc.py").write_text("x = 1\n")
    with pytest.raises(SandboxError, match="selfmod-no-such-image:latest is not on"):
        await builder.ensure(tmp_path, "selfmod-no-such-image:latest")


def test_the_key_depends_on_base_index_and_files(tmp_path: Path) -> None:
    """The cache key changes with the base image, the index or any dependency file."""
    (tmp_path / "requirements.txt").write_text("attrs\n")
    deps = find_dependencies(tmp_path)
    key = build_env_key("sha256:a", deps, "https://pypi.org/simple")
    assert key == build_env_key("sha256:a", deps, "https://pypi.org/simple")
    assert key != build_env_key("sha256:b", deps, "https://pypi.org/simple")
    assert key != build_env_key("sha256:a", deps, "https://mirror.invalid/simple")
    (tmp_path / "requirements.txt").write_text("attrs>=1\n")
    assert key != build_env_key("sha256:a", find_dependencies(tmp_path),
                                "https://pypi.org/simple")


def test_the_install_script_installs_all_files_in_one_pip_call(tmp_path: Path) -> None:
    """One resolver run sees every requirements file; the setup command follows."""
    (tmp_path / "requirements.txt").write_text("attrs\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\ndependencies=['six']\n")
    script = build_install_script(find_dependencies(tmp_path, EnvConfig(setup_command="make")))
    assert script.splitlines()[-2:] == [
        "python -m pip install -r 'requirements.txt' -r '.selfmod/requirements.txt'", "make"]


def test_the_build_points_pip_at_the_index_and_the_host_ca(docker_client: docker.DockerClient,
                                                           tmp_path: Path) -> None:
    """The build ignores the host's pip config, uses the chosen index, and the CA bundle."""
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    builder = EnvImageBuilder(docker_client, engine_url="x", ca_bundle=bundle,
                              index_url="https://mirror.example/simple")
    env = builder.build_env()
    assert env["PIP_INDEX_URL"] == "https://mirror.example/simple"
    assert env["PIP_CONFIG_FILE"] == "/dev/null"
    assert env["PIP_CERT"] == env["REQUESTS_CA_BUNDLE"] == "/selfmod-build/ca-certificates.crt"
    default = EnvImageBuilder(docker_client, engine_url="x", ca_bundle=None).build_env()
    assert default["PIP_INDEX_URL"] == "https://pypi.org/simple" and "PIP_CERT" not in default


def _pypi_answers() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.mark.docker
@pytest.mark.network
async def test_a_real_package_installs_from_pypi(builder: EnvImageBuilder, runner: SandboxRunner,
                                                 sandbox_image: str, tmp_path: Path) -> None:
    """With PyPI reachable, a tiny real package installs through the host's CA trust."""
    if not _pypi_answers():
        pytest.skip("PyPI does not answer within 3 s")
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    env = await builder.ensure(tmp_path, sandbox_image)
    result = await runner.run(SandboxRequest(
        workdir=tmp_path, image=env.image,
        command=["python", "-c", "import six; print(six.__version__)"]))
    assert result.stdout.strip() == "1.16.0", result.stderr


def test_the_index_setting_is_read_and_checked() -> None:
    """SELFMOD_PIP_INDEX_URL chooses the build's index; a non-URL stops start-up naming it."""
    assert load_settings({}).pip_index_url is None
    chosen = load_settings({"SELFMOD_PIP_INDEX_URL": "https://mirror.example/simple/"})
    assert chosen.pip_index_url == "https://mirror.example/simple"
    with pytest.raises(ConfigError, match="SELFMOD_PIP_INDEX_URL"):
        load_settings({"SELFMOD_PIP_INDEX_URL": "mirror"})
