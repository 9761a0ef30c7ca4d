"""Opening the Docker engine, with one clear error when it does not answer."""

from __future__ import annotations

import docker
import docker.errors
import requests.exceptions

from bot.errors import DockerUnavailableError, SandboxError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# Errors that mean "the engine is not there" rather than "the engine said no".
UNAVAILABLE_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                      ConnectionError, FileNotFoundError)


def open_docker(base_url: str | None = None, *, timeout: float = 60.0) -> docker.DockerClient:
    """Return a client for the engine at base_url that has answered a ping."""
    url = base_url or DEFAULT_DOCKER_HOST
    try:
        client = docker.DockerClient(base_url=url, timeout=int(timeout), version="auto")
        client.ping()
    except (docker.errors.DockerException, *UNAVAILABLE_ERRORS) as exc:
        raise unavailable(url, exc) from exc
    return client


def unavailable(url: str, exc: BaseException) -> DockerUnavailableError:
    """Build the error for an engine at url that does not answer."""
    reason = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
    return DockerUnavailableError(f"the Docker engine at {url} does not answer: {reason}")



def missing_image(image: str, url: str) -> SandboxError:
    """Build the error for a sandbox image the engine at url does not have."""
    return SandboxError(f"the sandbox image {image} is not on the Docker engine at {url}: build "
                        "it with `selfmod sandbox build-image` (scripts/setup does), or set "
                        "SELFMOD_SANDBOX_IMAGE to an image that engine has")
