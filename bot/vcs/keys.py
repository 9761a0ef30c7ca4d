"""The app's Ed25519 signing key: made once on first use, kept in OpenSSH format with mode 0600."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.errors import ConfigError
from bot.settings import Settings

KEY_FILE_NAME = "signing_key"


@dataclass(frozen=True)
class SigningKey:
    """The private key, where it lives, and its public half in OpenSSH form."""

    path: Path
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        """Return the public half."""
        return self.private.public_key()

    @property
    def public_openssh(self) -> str:
        """Return the public key as `ssh-ed25519 AAAA…`."""
        return public_openssh(self.public)

    @property
    def fingerprint(self) -> str:
        """Return the key's fingerprint as ssh-keygen prints it (SHA256:…)."""
        return fingerprint(self.public)

    def sign(self, data: bytes) -> bytes:
        """Sign bytes."""
        return self.private.sign(data)


def key_path(settings: Settings) -> Path:
    """Return where the signing key lives."""
    return settings.signing_key_path or settings.data_dir / KEY_FILE_NAME


def load_or_create_key(path: Path) -> SigningKey:
    """Load the key at `path`, making it (mode 0600) when there is none yet."""
    if not path.exists():
        _create(path)
    return load_key(path)


def load_key(path: Path) -> SigningKey:
    """Load an existing key; refuse one that others can read."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no signing key at {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"the signing key {path} is readable by others; chmod 600 it")
    private: object
    try:
        private = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, UnsupportedAlgorithm, TypeError):
            raise ConfigError(f"{path} is not an unencrypted OpenSSH or PEM key") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError(f"the signing key {path} is not an Ed25519 key")
    return SigningKey(path, private)


def _create(path: Path) -> None:
    """Write a new key atomically: a concurrent first use keeps whichever key landed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption())
    fd, temp = tempfile.mkstemp(prefix=".signing-key-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)  # fails when another process made the key meanwhile
    finally:
        os.unlink(temp)


def public_openssh(key: Ed25519PublicKey) -> str:
    """Return a public key as an OpenSSH line without comment."""
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """Return the SHA256 fingerprint of a public key as ssh-keygen -l prints it."""
    blob = base64.b64decode(public_openssh(key).split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def build_allowed_signers_line(email: str, key: Ed25519PublicKey) -> str:
    """Return the allowed-signers line that lets `git verify-commit` accept the key."""
    if not email or any(c.isspace() for c in email) or '"' in email:
        raise ConfigError(f"cannot name {email!r} in an allowed-signers file")
    return f'{email} namespaces="git" {public_openssh(key)}'


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Read an `ssh-ed25519 AAAA…` public key (an allowed-signers line also works)."""
    words = text.split()
    for index, word in enumerate(words[:-1]):
        if word == "ssh-ed25519":
            try:
                key = serialization.load_ssh_public_key(
                    f"{word} {words[index + 1]}".encode())
            except (ValueError, UnsupportedAlgorithm):
                break
            if isinstance(key, Ed25519PublicKey):
                return key
    raise ConfigError("not an ssh-ed25519 public key")


def is_valid_signature(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """Tell whether `signature` signs `data` under `key`."""
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
