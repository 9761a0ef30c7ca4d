"""Per-repository environment images: the base image plus the repository's test dependencies.

This is the one sandbox step with network: it runs the dependencies' install scripts (setup.py of
sdists, build backends, a configured setup command), which are untrusted code. So it runs in a
container with the default bridge network and nothing else of the host: no mounts, no host
environment, no secrets; all capabilities dropped, no-new-privileges, pids/memory/CPU limits, a
host-side timeout that kills it. Its input is a tmpfs volume holding only the dependency files
(never the repository's code) and a copy of the host's CA bundle, which pip uses during the build
only (a host may trust a locally installed CA for its egress). Known limit: on the bridge it can
reach what the host serves on the bridge's gateway address, so bind host services to 127.0.0.1
(or firewall the bridge) on machines that build environments. The container is committed as
`selfmod-env:<key>`, the key being the hash of the base image id, the dependency files, the setup
command and the index; a later call with the same key reuses the image and builds nothing.

A container with `commit` rather than `docker build`: the legacy builder takes no pids limit, no
capability set and no host-side kill, and its intermediate containers carry no label.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
from docker.models.containers import Container

from bot.errors import SandboxError
from bot.sandbox.connect import UNAVAILABLE_ERRORS, missing_image, unavailable
from bot.sandbox.deps import DependencySet, EnvConfig, find_dependencies
from bot.sandbox.limits import GIB, MIB
from bot.sandbox.runner import LABEL

ENV_REPOSITORY = "selfmod-env"
ENV_LABEL = "org.selfmod.env"
DEFAULT_INDEX_URL = "https://pypi.org/simple"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_DIR = "/selfmod-build"
_KEY_VERSION = 1
_TAIL_BYTES = 6000


@dataclass(frozen=True)
class EnvBuildLimits:
    """What the networked build may use."""

    timeout: float = 900.0
    memory_bytes: int = 2 * GIB
    pids: int = 512
    cpus: float = 2.0
    context_bytes: int = 512 * MIB


@dataclass(frozen=True)
class EnvImage:
    """The image a repository's runs use, and whether this call built it."""

    image: str
    built: bool
    key: str | None
    notes: tuple[str, ...] = ()


def build_env_key(base_id: str, deps: DependencySet, index_url: str) -> str:
    """Return the cache key of an environment image (pure)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({
        "v": _KEY_VERSION, "base": base_id, "index": index_url,
        "requirements": list(deps.requirement_files), "setup": deps.setup_command,
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in deps.files.items()},
    }, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def build_install_script(deps: DependencySet) -> str:
    """Return the shell script that installs the dependencies inside the build container."""
    lines = ["set -e", f"cd {BUILD_DIR}/src"]
    if deps.requirement_files:
        args = " ".join(f"-r '{rel}'" for rel in deps.requirement_files)
        lines.append(f"python -m pip install {args}")
    if deps.setup_command:
        lines.append(deps.setup_command)
    return "\n".join(lines) + "\n"


class EnvImageBuilder:
    """Build (or reuse) the environment image of a repository on one Docker engine."""

    def __init__(self, client: docker.DockerClient, *, engine_url: str,
                 index_url: str | None = None, ca_bundle: Path | None = HOST_CA_BUNDLE,
                 limits: EnvBuildLimits | None = None) -> None:
        self._client = client
        self._engine_url = engine_url
        self._index_url = index_url or DEFAULT_INDEX_URL
        self._ca_bundle = ca_bundle
        self._limits = limits or EnvBuildLimits()

    async def ensure(self, repo: Path, base_image: str,
                     config: EnvConfig | None = None) -> EnvImage:
        """Return the repository's environment image, building it when it does not exist."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.ensure_sync, repo, base_image, config)

    def ensure_sync(self, repo: Path, base_image: str,
                    config: EnvConfig | None = None) -> EnvImage:
        """Return the repository's environment image (blocking)."""
        deps = find_dependencies(repo, config)
        try:
            base = self._client.images.get(base_image)
            if deps.is_empty:
                return EnvImage(base_image, built=False, key=None, notes=deps.notes)
            key = build_env_key(base.id, deps, self._index_url)
            tag = f"{ENV_REPOSITORY}:{key}"
            try:
                self._client.images.get(tag)
                return EnvImage(tag, built=False, key=key, notes=deps.notes)
            except docker.errors.ImageNotFound:
                pass
            _Build(self._client, base, deps, key, self).run(tag)
        except docker.errors.ImageNotFound:
            raise missing_image(base_image, self._engine_url) from None
        except UNAVAILABLE_ERRORS as exc:
            raise unavailable(self._engine_url, exc) from exc
        return EnvImage(tag, built=True, key=key, notes=deps.notes)

    def build_env(self) -> dict[str, str]:
        """Return the build exec's environment: the index, the CA bundle, no host config."""
        env = {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": self._index_url,
               "PIP_NO_CACHE_DIR": "1", "PIP_NO_INPUT": "1", "PIP_PROGRESS_BAR": "off",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        if self._ca_bundle is not None and self._ca_bundle.is_file():
            bundle = f"{BUILD_DIR}/ca-certificates.crt"
            env.update(PIP_CERT=bundle, REQUESTS_CA_BUNDLE=bundle, SSL_CERT_FILE=bundle)
        return env

    def build_context(self, deps: DependencySet) -> bytes:
        """Return the tar put into the build volume: CA bundle, dependency files, the script."""
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            # src/ is open to the image's user (often not root): a setup command may write there.
            folders = {"src": 0o1777} | {f"src/{parent}": 0o755 for rel in deps.files
                                          for parent in _parents(rel)}
            for folder, mode in sorted(folders.items()):
                _add(tar, folder, None, mode)
            for rel, data in deps.files.items():
                _add(tar, f"src/{rel}", data, 0o644)
            _add(tar, "install.sh", build_install_script(deps).encode(), 0o644)
            if self._ca_bundle is not None and self._ca_bundle.is_file():
                _add(tar, "ca-certificates.crt", self._ca_bundle.read_bytes(), 0o644)
        if out.tell() > self._limits.context_bytes:
            raise SandboxError(f"the dependency files exceed {self._limits.context_bytes} bytes")
        return out.getvalue()

    @property
    def limits(self) -> EnvBuildLimits:
        """Return the build limits."""
        return self._limits


def _parents(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: depth + 1]) for depth in range(len(parts))]


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    """Add a file, or with no data a folder, owned by root."""
    info = tarfile.TarInfo(name)
    info.mode = mode
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


class _Build:
    """One networked build: a container on a tmpfs volume, the install, a commit."""

    def __init__(self, client: docker.DockerClient, base: Any, deps: DependencySet, key: str,
                 builder: EnvImageBuilder) -> None:
        self.client = client
        self.base = base
        self.deps = deps
        self.key = key
        self.builder = builder
        self.timed_out = False
        self.container: Container | None = None

    def run(self, tag: str) -> None:
        """Build and commit the image as `tag`; always remove the container and volume."""
        limits = self.builder.limits
        context = self.builder.build_context(self.deps)
        labels = {LABEL: "1", ENV_LABEL: self.key}
        volume = self.client.volumes.create(
            name=f"selfmod-envbuild-{uuid.uuid4().hex[:16]}", driver="local", labels=labels,
            driver_opts={"type": "tmpfs", "device": "tmpfs",
                         "o": f"size={limits.context_bytes},mode=0755,nosuid,nodev"})
        try:
            self.container = self.client.containers.create(
                self.base.id, ["sleep", "infinity"], entrypoint=[], labels=labels,
                environment={}, network_mode="bridge", hostname="selfmod-build",
                tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.memory_bytes},mode=1777"},
                mounts=[docker.types.Mount(BUILD_DIR, volume.name, type="volume")],
                cap_drop=["ALL"], security_opt=["no-new-privileges:true"], privileged=False,
                pids_limit=limits.pids, mem_limit=limits.memory_bytes,
                memswap_limit=limits.memory_bytes, nano_cpus=int(limits.cpus * 1e9),
                init=True, log_config={"type": "none"})
            self.container.start()
            if not self.container.put_archive(BUILD_DIR, context):
                raise SandboxError("the engine refused the dependency files")
            self._install()
            self.container.commit(repository=tag.split(":")[0], tag=tag.split(":")[1],
                                  changes=self._restore_config(),
                                  message="selfmod: test dependencies installed")
        finally:
            if self.container is not None:
                with contextlib.suppress(docker.errors.NotFound):
                    self.container.remove(force=True, v=True)
            with contextlib.suppress(docker.errors.NotFound):
                volume.remove(force=True)

    def _install(self) -> None:
        assert self.container is not None
        api = self.client.api
        exec_id = api.exec_create(self.container.id, ["sh", f"{BUILD_DIR}/install.sh"],
                                  stdout=True, stderr=True, environment=self.builder.build_env(),
                                  workdir=f"{BUILD_DIR}/src")["Id"]
        timer = threading.Timer(self.builder.limits.timeout, self._kill)
        timer.start()
        tail = b""
        try:
            for chunk in api.exec_start(exec_id, stream=True):
                tail = (tail + chunk)[-_TAIL_BYTES:]
        finally:
            timer.cancel()
        text = tail.decode("utf-8", "replace").strip()
        if self.timed_out:
            raise SandboxError(f"installing the test dependencies took longer than "
                               f"{self.builder.limits.timeout:.0f} s and was stopped:\n{text}")
        try:
            code = api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.NotFound:
            code = None
        if code != 0:
            raise SandboxError(f"installing the test dependencies failed (exit {code}):\n{text}")

    def _kill(self) -> None:
        self.timed_out = True
        if self.container is not None:
            with contextlib.suppress(docker.errors.APIError, *UNAVAILABLE_ERRORS):
                self.client.api.kill(self.container.id)

    def _restore_config(self) -> list[str]:
        """Return commit changes that give back the base image's command and entrypoint."""
        config = self.base.attrs.get("Config") or {}
        entrypoint = config.get("Entrypoint") or []
        changes = [f"ENTRYPOINT {json.dumps(entrypoint)}", f"LABEL {ENV_LABEL}={self.key}"]
        if config.get("Cmd"):
            changes.append(f"CMD {json.dumps(config['Cmd'])}")
        return changes
