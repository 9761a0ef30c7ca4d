"""Webhook signatures: HMAC-SHA256 of the raw body with the shared secret."""

from __future__ import annotations

import hmac

SIGNATURE_PREFIX = "sha256="


def build_signature(body: bytes, secret: str) -> str:
    """Return the `X-Hub-Signature-256` value GitHub sends for this body."""
    # hmac.digest is OpenSSL's one-shot HMAC: no Python-level object per delivery.
    return SIGNATURE_PREFIX + hmac.digest(secret.encode("utf-8"), body, "sha256").hex()


def is_valid_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Tell whether the header is the body's signature, comparing in constant time."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(build_signature(body, secret).encode("ascii"),
                               header.strip().encode("ascii", "replace"))
