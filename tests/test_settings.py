"""Settings from the environment: defaults, validation, secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import DEFAULT_DATABASE_URL, load_settings

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
GITHUB = {"GITHUB_APP_ID": "123", "GITHUB_PRIVATE_KEY": KEY, "GITHUB_WEBHOOK_SECRET": "hush"}


def test_defaults_need_no_environment() -> None:
    """An empty environment gives the embedded defaults and no GitHub."""
    settings = load_settings({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.github is None


def test_github_settings_are_complete() -> None:
    """App id, key and secret together give GitHub App settings."""
    github = load_settings(GITHUB).require_github()
    assert github.app_id == 123 and github.webhook_secret == "hush"


def test_missing_secret_is_named() -> None:
    """Asking for GitHub without the webhook secret names the variable."""
    settings = load_settings({**GITHUB, "GITHUB_WEBHOOK_SECRET": ""})
    with pytest.raises(ConfigError, match="GITHUB_WEBHOOK_SECRET"):
        settings.require_github()


def test_missing_app_id_is_named() -> None:
    """Asking for GitHub with nothing set names GITHUB_APP_ID."""
    with pytest.raises(ConfigError, match="GITHUB_APP_ID"):
        load_settings({}).require_github()


def test_non_numeric_app_id_is_refused() -> None:
    """A non-numeric app id is refused at load time."""
    with pytest.raises(ConfigError, match="GITHUB_APP_ID"):
        load_settings({**GITHUB, "GITHUB_APP_ID": "abc"})


def test_key_file_is_read(tmp_path: Path) -> None:
    """The private key may come from a file."""
    key_file = tmp_path / "key.pem"
    key_file.write_text(KEY)
    env = {**GITHUB, "GITHUB_PRIVATE_KEY": "", "GITHUB_PRIVATE_KEY_PATH": str(key_file)}
    assert load_settings(env).require_github().private_key == KEY


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    """An unreadable key file names the variable and not the key's content."""
    env = {**GITHUB, "GITHUB_PRIVATE_KEY": "", "GITHUB_PRIVATE_KEY_PATH": str(tmp_path / "no")}
    with pytest.raises(ConfigError, match="GITHUB_PRIVATE_KEY_PATH"):
        load_settings(env)


def test_key_that_is_not_pem_is_refused() -> None:
    """A private key that is not PEM is refused without echoing it."""
    with pytest.raises(ConfigError) as caught:
        load_settings({**GITHUB, "GITHUB_PRIVATE_KEY": "hunter2"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "sqlite:///x.db",
                                 "postgresql+asyncpg:///nohost"])
def test_malformed_database_url_is_refused(url: str) -> None:
    """A DATABASE_URL of an unsupported form is refused, naming the variable."""
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings({"DATABASE_URL": url})


def test_plain_postgresql_url_gets_the_async_driver() -> None:
    """A plain postgresql:// URL is read as asyncpg."""
    url = load_settings({"DATABASE_URL": "postgresql://u@db:5432/selfmod"}).database_url
    assert url == "postgresql+asyncpg://u@db:5432/selfmod"


@pytest.mark.parametrize(("name", "value"), [("SELFMOD_WORKER_LEASE_SECONDS", "soon"),
                                             ("SELFMOD_JOB_MAX_ATTEMPTS", "0"),
                                             ("SELFMOD_LOG_LEVEL", "LOUD"),
                                             ("GITHUB_API_URL", "ftp://x")])
def test_bad_values_are_named(name: str, value: str) -> None:
    """A malformed SELFMOD_* value is refused, naming the variable."""
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_docker_hosts_keep_their_ports() -> None:
    """Docker engine URLs are split on commas only."""
    hosts = load_settings({"SELFMOD_DOCKER_HOSTS": "tcp://a:2375, unix:///run/d.sock"})
    assert hosts.docker_hosts == ("tcp://a:2375", "unix:///run/d.sock")


def test_secrets_stay_out_of_repr() -> None:
    """Printing the settings never shows a secret."""
    settings = load_settings({**GITHUB, "OPENAI_API_KEY": "sk-live", "SELFMOD_API_TOKEN": "tok"})
    text = repr(settings)
    assert "hush" not in text and "sk-live" not in text and "tok'" not in text
    assert "PRIVATE KEY" not in text
