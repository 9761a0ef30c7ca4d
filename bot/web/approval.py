"""Approval tokens for the REST API's apply endpoint: JWTs naming one analysis and an approver."""

from __future__ import annotations

import argparse
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from bot.errors import ConfigError, SelfmodError
from bot.settings import Settings

AUDIENCE = "selfmod:apply"
APPROVER_CLAIM = "approver"
_TTL = re.compile(r"(\d+)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_SECONDS = 7 * 86400


class ApprovalError(SelfmodError):
    """An approval token is malformed, badly signed, expired or for another analysis."""


@dataclass(frozen=True)
class Approval:
    """Who approved which analysis, until when."""

    analysis_id: str
    approver: str
    expires_at: datetime


def parse_ttl(text: str) -> timedelta:
    """Read a lifetime such as 90s, 15m, 2h or 1d; raise ConfigError on anything else."""
    match = _TTL.fullmatch(text.strip().lower())
    if match is None:
        raise ConfigError(f"--ttl {text!r}: use a number with s, m, h or d (e.g. 15m)")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise ConfigError(f"--ttl {text!r}: must be more than 0 and at most 7d")
    return timedelta(seconds=seconds)


def mint_token(settings: Settings, analysis_id: str, approver: str, ttl: timedelta, *,
               now: datetime) -> str:
    """Sign a token approving one analysis: RS256 with the private key, else HS256."""
    if not approver.strip():
        raise ConfigError("the approver's name is empty")
    claims = {"sub": analysis_id, APPROVER_CLAIM: approver.strip(), "aud": AUDIENCE,
              "iat": int(now.timestamp()), "exp": int((now + ttl).timestamp()),
              "jti": str(uuid.uuid4())}
    if settings.approval_private_key:
        return jwt.encode(claims, settings.approval_private_key, algorithm="RS256")
    if settings.approval_secret:
        return jwt.encode(claims, settings.approval_secret, algorithm="HS256")
    raise ConfigError("set SELFMOD_APPROVAL_SECRET (HS256) or "
                      "SELFMOD_APPROVAL_PRIVATE_KEY_PATH (RS256) to mint approval tokens")


def is_approval_configured(settings: Settings) -> bool:
    """Tell whether the server can verify approval tokens at all."""
    return bool(settings.approval_secret or settings.approval_public_key)


def verify_token(settings: Settings, token: str, analysis_id: str, *, now: datetime) -> Approval:
    """Return the approval a token carries for this analysis; raise ApprovalError otherwise."""
    key = _verification_key(settings, token)
    try:
        # Times are checked below against the clock passed in, not pyjwt's own.
        claims = jwt.decode(token, key[1], algorithms=[key[0]], audience=AUDIENCE,
                            options={"require": ["sub", "exp", "iat", "aud"],
                                     "verify_exp": False, "verify_iat": False})
    except jwt.InvalidTokenError as exc:
        raise ApprovalError(f"the approval token is not valid: {exc}") from None
    try:
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (TypeError, ValueError, OverflowError):
        raise ApprovalError("the approval token's expiry is not a time") from None
    if expires <= now:
        raise ApprovalError("the approval token has expired")
    if str(claims["sub"]) != analysis_id:
        raise ApprovalError("the approval token is for another analysis")
    approver = claims.get(APPROVER_CLAIM)
    if not isinstance(approver, str) or not approver.strip():
        raise ApprovalError("the approval token names no approver")
    return Approval(analysis_id, approver, expires)


def _verification_key(settings: Settings, token: str) -> tuple[str, str]:
    """Pick the algorithm and key from what the server holds; the token's header only chooses."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError:
        raise ApprovalError("the approval token is not a JWT") from None
    # Each algorithm has its own key, so a public key can never be used as an HMAC secret.
    if algorithm == "RS256" and settings.approval_public_key:
        return "RS256", settings.approval_public_key
    if algorithm == "HS256" and settings.approval_secret:
        return "HS256", settings.approval_secret
    raise ApprovalError(f"the approval token's algorithm {algorithm!r} is not accepted here")


def token_command(args: argparse.Namespace, settings: Settings) -> int:
    """Mint an approval token and print it."""
    try:
        analysis_id = str(uuid.UUID(args.analysis_id))
    except ValueError:
        raise ConfigError(f"--analysis-id {args.analysis_id!r} is not a UUID") from None
    token = mint_token(settings, analysis_id, args.approver, parse_ttl(args.ttl),
                       now=datetime.now(UTC))
    print(token)
    return 0
