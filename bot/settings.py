"""Configuration read once from the environment into frozen settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///selfmod.db"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
# What scripts/setup (or `selfmod sandbox build-image`) builds locally, with no registry.
DEFAULT_SANDBOX_IMAGE = "selfmod-sandbox:latest"
_DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg", "postgresql", "postgres")


@dataclass(frozen=True)
class GitHubAppSettings:
    """What the app needs to talk to GitHub as an App; secrets stay out of repr."""

    app_id: int
    private_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_url: str = DEFAULT_GITHUB_API_URL


@dataclass(frozen=True)
class Settings:
    """Everything selfmod reads from the environment."""

    database_url: str = DEFAULT_DATABASE_URL
    github: GitHubAppSettings | None = None
    github_error: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_app_slug: str = "agent-self-modify"
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_model: str = "gpt-4o-mini"
    openai_temperature: float = 0.2
    openai_max_tokens: int = 2000
    openai_timeout: float = 60.0
    openai_concurrency: int = 2
    sandbox_image: str = DEFAULT_SANDBOX_IMAGE
    pip_index_url: str | None = None  # the index of the environment image builds; None: PyPI
    docker_hosts: tuple[str, ...] = ()
    data_dir: Path = Path(".selfmod")
    signing_key_path: Path | None = None
    commit_author_name: str = "agent-self-modify"
    commit_author_email: str = "agent-self-modify@users.noreply.github.com"
    api_token: str | None = field(default=None, repr=False)
    api_roots: tuple[Path, ...] = ()
    approval_secret: str | None = field(default=None, repr=False)
    approval_public_key: str | None = field(default=None, repr=False)
    approval_private_key: str | None = field(default=None, repr=False)  # RS256 minting
    api_wait_seconds: float = 2.0  # how long POST /self-modify/analyze waits before a 202
    log_level: str = "INFO"
    log_format: str = "json"
    worker_lease_seconds: float = 60.0
    worker_poll_seconds: float = 0.5
    job_max_attempts: int = 3
    shutdown_grace_seconds: float = 30.0
    proposals_per_hour: int = 2
    stale_pull_request_days: float = 14.0
    metrics_port: int | None = None  # where a worker serves its Prometheus metrics

    def require_github(self) -> GitHubAppSettings:
        """Return the GitHub App settings or raise naming what is missing."""
        if self.github is None:
            raise ConfigError(self.github_error or "GITHUB_APP_ID is not set")
        return self.github


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the environment; raise ConfigError naming the bad variable."""
    env = os.environ if environ is None else environ
    database_url = _database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    api_url = _url("GITHUB_API_URL", env.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL)
    github, github_error = _github(env, api_url)
    openai_base_url = env.get("OPENAI_BASE_URL") or None
    if openai_base_url is not None:
        _url("OPENAI_BASE_URL", openai_base_url)
    data_dir = Path(env.get("SELFMOD_DATA_DIR") or ".selfmod")
    key_path = env.get("SELFMOD_SIGNING_KEY_PATH")
    return Settings(
        database_url=database_url,
        github=github,
        github_error=github_error,
        github_api_url=api_url,
        github_app_slug=env.get("SELFMOD_GITHUB_APP_SLUG") or "agent-self-modify",
        openai_base_url=openai_base_url,
        openai_api_key=env.get("OPENAI_API_KEY") or None,
        openai_model=env.get("SELFMOD_OPENAI_MODEL") or "gpt-4o-mini",
        openai_temperature=_float(env, "SELFMOD_OPENAI_TEMPERATURE", 0.2, low=0.0, high=2.0),
        openai_max_tokens=_int(env, "SELFMOD_OPENAI_MAX_TOKENS", 2000, low=1),
        openai_timeout=_float(env, "SELFMOD_OPENAI_TIMEOUT", 60.0, low=0.1),
        openai_concurrency=_int(env, "SELFMOD_OPENAI_CONCURRENCY", 2, low=1),
        sandbox_image=env.get("SELFMOD_SANDBOX_IMAGE") or DEFAULT_SANDBOX_IMAGE,
        pip_index_url=_url("SELFMOD_PIP_INDEX_URL", env["SELFMOD_PIP_INDEX_URL"])
        if env.get("SELFMOD_PIP_INDEX_URL") else None,
        docker_hosts=_list(env.get("SELFMOD_DOCKER_HOSTS") or env.get("DOCKER_HOST")),
        data_dir=data_dir,
        signing_key_path=Path(key_path) if key_path else None,
        commit_author_name=env.get("SELFMOD_COMMIT_AUTHOR_NAME") or "agent-self-modify",
        commit_author_email=env.get("SELFMOD_COMMIT_AUTHOR_EMAIL")
        or "agent-self-modify@users.noreply.github.com",
        api_token=env.get("SELFMOD_API_TOKEN") or None,
        api_roots=tuple(Path(p).resolve() for p in _list(env.get("SELFMOD_API_ROOTS"), paths=True)),
        approval_secret=env.get("SELFMOD_APPROVAL_SECRET") or None,
        approval_public_key=_optional_file(env, "SELFMOD_APPROVAL_PUBLIC_KEY_PATH"),
        approval_private_key=_optional_file(env, "SELFMOD_APPROVAL_PRIVATE_KEY_PATH"),
        api_wait_seconds=_float(env, "SELFMOD_API_WAIT_SECONDS", 2.0, low=0.0),
        log_level=_choice(env, "SELFMOD_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
        log_format=_choice(env, "SELFMOD_LOG_FORMAT", "json", ("json", "text")),
        worker_lease_seconds=_float(env, "SELFMOD_WORKER_LEASE_SECONDS", 60.0, low=1.0),
        worker_poll_seconds=_float(env, "SELFMOD_WORKER_POLL_SECONDS", 0.5, low=0.01),
        job_max_attempts=_int(env, "SELFMOD_JOB_MAX_ATTEMPTS", 3, low=1),
        shutdown_grace_seconds=_float(env, "SELFMOD_SHUTDOWN_GRACE_SECONDS", 30.0, low=0.0),
        proposals_per_hour=_int(env, "SELFMOD_PROPOSALS_PER_HOUR", 2, low=1),
        stale_pull_request_days=_float(env, "SELFMOD_STALE_PULL_REQUEST_DAYS", 14.0, low=0.0),
        metrics_port=_int(env, "SELFMOD_METRICS_PORT", 9091, low=1)
        if env.get("SELFMOD_METRICS_PORT") else None,
    )


def _github(env: Mapping[str, str], api_url: str) -> tuple[GitHubAppSettings | None, str | None]:
    """Build the App settings, or say what is missing without failing commands that need none."""
    app_id_text = env.get("GITHUB_APP_ID")
    if not app_id_text:
        return None, "GITHUB_APP_ID is not set"
    if not app_id_text.isdigit():
        raise ConfigError("GITHUB_APP_ID must be a whole number")
    key = env.get("GITHUB_PRIVATE_KEY") or _optional_file(env, "GITHUB_PRIVATE_KEY_PATH")
    if not key:
        return None, "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is not set"
    if "PRIVATE KEY" not in key:
        raise ConfigError("GITHUB_PRIVATE_KEY is not a PEM private key")
    secret = env.get("GITHUB_WEBHOOK_SECRET")
    if not secret:
        return None, "GITHUB_WEBHOOK_SECRET is not set"
    return GitHubAppSettings(int(app_id_text), key, secret, api_url), None


def _optional_file(env: Mapping[str, str], name: str) -> str | None:
    path = env.get(name)
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        # The reason, not the content: the file may hold a secret.
        raise ConfigError(f"{name}: cannot read {path}: {exc.__class__.__name__}") from None


def _database_url(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in _DATABASE_SCHEMES:
        raise ConfigError(
            "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    if scheme in ("postgresql", "postgres"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("postgresql") and not urlsplit(url).hostname and "host=" not in url:
        raise ConfigError("DATABASE_URL names no PostgreSQL host")
    if url.startswith("sqlite") and not url.startswith("sqlite+aiosqlite:///"):
        raise ConfigError("DATABASE_URL for SQLite must look like sqlite+aiosqlite:///path.db")
    return url


def _url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL")
    return value.rstrip("/")


def _float(env: Mapping[str, str], name: str, default: float, *, low: float,
           high: float | None = None) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{name} must be between {low} and {high or 'any'}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int) -> int:
    text = env.get(name)
    if not text:
        return default
    if not text.strip().isdigit() or int(text) < low:
        raise ConfigError(f"{name} must be a whole number of at least {low}")
    return int(text)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip()
    if value.upper() in choices:
        return value.upper()
    if value.lower() in choices:
        return value.lower()
    raise ConfigError(f"{name} must be one of {', '.join(choices)}")


def _list(text: str | None, *, paths: bool = False) -> tuple[str, ...]:
    """Split a comma-separated list; path lists also take the OS path separator."""
    if not text:
        return ()
    if paths:
        text = text.replace(os.pathsep, ",")
    return tuple(item.strip() for item in text.split(",") if item.strip())
