"""Tests of the signing key: made once with mode 0600, reused, refused when unsafe."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.errors import ConfigError
from bot.settings import Settings
from bot.vcs.keys import (
    build_allowed_signers_line,
    key_path,
    load_key,
    load_or_create_key,
    parse_public_key,
)


def test_a_missing_key_is_made_with_mode_0600(tmp_path: Path) -> None:
    """The first use writes an OpenSSH private key only its owner can read."""
    path = tmp_path / "data" / "signing_key"
    load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_the_key_is_made_once_and_reused(tmp_path: Path) -> None:
    """A second use loads the same key instead of making another."""
    path = tmp_path / "signing_key"
    first = load_or_create_key(path)
    written = path.read_bytes()
    second = load_or_create_key(path)
    assert second.public_openssh == first.public_openssh
    assert path.read_bytes() == written


def test_the_key_path_comes_from_settings(tmp_path: Path) -> None:
    """The configured path wins; otherwise the key lives in the data folder."""
    assert key_path(Settings(data_dir=tmp_path)) == tmp_path / "signing_key"
    assert key_path(Settings(data_dir=tmp_path, signing_key_path=tmp_path / "k")) == tmp_path / "k"


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    """A key file with group or world permissions is refused with the fix."""
    path = tmp_path / "signing_key"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(path)


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    """An RSA key is not accepted as the signing key."""
    path = tmp_path / "rsa"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        load_key(path)


def test_a_file_that_is_no_key_is_refused(tmp_path: Path) -> None:
    """Garbage in the key file gives a clear error."""
    path = tmp_path / "junk"
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not an unencrypted OpenSSH or PEM key"):
        load_key(path)


def test_a_missing_key_is_named_when_loading(tmp_path: Path) -> None:
    """Loading (not making) a key that does not exist names the path."""
    with pytest.raises(ConfigError, match="no signing key"):
        load_key(tmp_path / "absent")


def test_the_allowed_signers_line_names_the_email_and_key(tmp_path: Path) -> None:
    """The allowed-signers line reads back as the same public key."""
    key = load_or_create_key(tmp_path / "k")
    line = build_allowed_signers_line("bot@example.com", key.public)
    assert line.startswith('bot@example.com namespaces="git" ssh-ed25519 ')
    assert parse_public_key(line) == key.public


def test_an_email_with_spaces_cannot_be_an_allowed_signer(tmp_path: Path) -> None:
    """An email that would break the allowed-signers format is refused."""
    key = load_or_create_key(tmp_path / "k")
    with pytest.raises(ConfigError, match="allowed-signers"):
        build_allowed_signers_line("a b@example.com", key.public)


def test_text_without_a_public_key_is_refused() -> None:
    """Parsing a public key out of text without one fails clearly."""
    with pytest.raises(ConfigError, match="not an ssh-ed25519 public key"):
        parse_public_key("ssh-ed25519 notbase64!")
