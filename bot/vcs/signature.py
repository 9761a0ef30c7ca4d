"""The Selfmod-Signature trailer: Ed25519 over the tree, the parents and the modification id."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.errors import GitError
from bot.vcs.keys import SigningKey, fingerprint, is_valid_signature
from bot.vcs.message import (
    SIGNATURE,
    append_trailer,
    check_modification_id,
    parse_commit_message,
)
from bot.vcs.objects import RawCommit, read_commit
from bot.vcs.safegit import Repo, SafeGit

VERSION = "v1"
_DOMAIN = "selfmod-signature-v1"
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one commit's Selfmod-Signature."""

    commit: str
    ok: bool
    reason: str
    modification_id: str | None = None


def build_signed_payload(tree: str, parents: Sequence[str], modification_id: str) -> bytes:
    """Return the exact bytes the app signs; all of them are known before the commit exists."""
    for object_id in (tree, *parents):
        if not _OBJECT_ID.fullmatch(object_id):
            raise GitError(f"not a full object id: {object_id!r}")
    check_modification_id(modification_id)
    lines = [_DOMAIN, f"tree {tree}", *(f"parent {p}" for p in parents),
             f"modification {modification_id}"]
    return ("\n".join(lines) + "\n").encode()


def sign_commit_fields(key: SigningKey, tree: str, parents: Sequence[str],
                       modification_id: str) -> str:
    """Return the Selfmod-Signature trailer value for a commit still to be made."""
    raw = key.sign(build_signed_payload(tree, parents, modification_id))
    return f"{VERSION} {key.fingerprint} {base64.b64encode(raw).decode()}"


def sign_message(key: SigningKey, tree: str, parents: Sequence[str], message: str) -> str:
    """Append the Selfmod-Signature trailer to an unsigned self-modification message."""
    parsed = parse_commit_message(message)
    if parsed.trailer(SIGNATURE) is not None:
        raise GitError("the message already carries a Selfmod-Signature")
    value = sign_commit_fields(key, tree, parents, parsed.modification_id)
    return append_trailer(message, SIGNATURE, value)


def check_signature(commit: RawCommit, key: Ed25519PublicKey) -> Verification:
    """Check a commit's trailer against its own tree, parents and id (pure)."""
    try:
        parsed = parse_commit_message(commit.message)
    except GitError as exc:
        return Verification(commit.sha, False, str(exc))
    value = parsed.trailer(SIGNATURE)
    if value is None:
        return Verification(commit.sha, False, "no Selfmod-Signature trailer",
                            parsed.modification_id)
    words = value.split()
    if len(words) != 3 or words[0] != VERSION:
        return Verification(commit.sha, False, "malformed Selfmod-Signature trailer",
                            parsed.modification_id)
    if words[1] != fingerprint(key):
        return Verification(commit.sha, False, f"signed by another key ({words[1]})",
                            parsed.modification_id)
    try:
        raw = base64.b64decode(words[2], validate=True)
        payload = build_signed_payload(commit.tree, commit.parents, parsed.modification_id)
    except (binascii.Error, GitError):
        return Verification(commit.sha, False, "malformed Selfmod-Signature trailer",
                            parsed.modification_id)
    if not is_valid_signature(key, raw, payload):
        return Verification(commit.sha, False,
                            "the signature does not match the commit's tree, parents and id",
                            parsed.modification_id)
    return Verification(commit.sha, True, "good Selfmod-Signature", parsed.modification_id)


def verify_commit(git: SafeGit, repo: Repo, revision: str,
                  key: Ed25519PublicKey) -> Verification:
    """Read a commit from a repository and check its Selfmod-Signature."""
    return check_signature(read_commit(git, repo, revision), key)
