"""Approval tokens: lifetimes, minting, verification and `selfmod token`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from bot.errors import ConfigError
from bot.settings import load_settings
from bot.web.approval import ApprovalError, mint_token, parse_ttl, token_command, verify_token

SECRET = "a-secret-of-at-least-thirty-two-bytes"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
ANALYSIS = "6f1c1f0e-8a4b-4c0e-9a65-1d2b3c4d5e6f"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200),
                                               ("1d", 86400), ("30", 30)])
def test_ttl_forms(text: str, seconds: int) -> None:
    """Lifetimes read seconds, minutes, hours and days."""
    assert parse_ttl(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15x", "-5m", "0s", "8d"])
def test_bad_ttl(text: str) -> None:
    """A malformed, empty or too long lifetime is a clear error."""
    with pytest.raises(ConfigError, match="--ttl"):
        parse_ttl(text)


def test_minted_token_verifies() -> None:
    """A minted token names the analysis and the approver until it expires."""
    settings = load_settings({"SELFMOD_APPROVAL_SECRET": SECRET})
    token = mint_token(settings, ANALYSIS, "alice", timedelta(minutes=15), now=NOW)
    approval = verify_token(settings, token, ANALYSIS, now=NOW + timedelta(minutes=1))
    assert approval.approver == "alice" and approval.expires_at == NOW + timedelta(minutes=15)


def test_token_expires_by_the_passed_clock() -> None:
    """After its expiry a token is refused."""
    settings = load_settings({"SELFMOD_APPROVAL_SECRET": SECRET})
    token = mint_token(settings, ANALYSIS, "alice", timedelta(minutes=15),
                       now=datetime.now(UTC))
    with pytest.raises(ApprovalError, match="expired"):
        verify_token(settings, token, ANALYSIS, now=datetime.now(UTC) + timedelta(hours=1))


def test_token_without_approver_is_refused() -> None:
    """A well-signed token that names no approver is refused."""
    settings = load_settings({"SELFMOD_APPROVAL_SECRET": SECRET})
    token = jwt.encode({"sub": ANALYSIS, "aud": "selfmod:apply", "iat": 0,
                        "exp": 4102444800}, SECRET, algorithm="HS256")
    with pytest.raises(ApprovalError, match="approver"):
        verify_token(settings, token, ANALYSIS, now=NOW)


def test_token_for_another_audience_is_refused() -> None:
    """A token signed with the secret for another purpose is refused."""
    settings = load_settings({"SELFMOD_APPROVAL_SECRET": SECRET})
    token = jwt.encode({"sub": ANALYSIS, "approver": "a", "aud": "elsewhere", "iat": 0,
                        "exp": 4102444800}, SECRET, algorithm="HS256")
    with pytest.raises(ApprovalError, match="not valid"):
        verify_token(settings, token, ANALYSIS, now=NOW)


def test_minting_needs_a_key() -> None:
    """Without a secret or a private key, minting says which variable to set."""
    with pytest.raises(ConfigError, match="SELFMOD_APPROVAL_SECRET"):
        mint_token(load_settings({}), ANALYSIS, "alice", timedelta(minutes=1), now=NOW)


def test_token_command_prints_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    """`selfmod token` prints a token for the analysis."""
    settings = load_settings({"SELFMOD_APPROVAL_SECRET": SECRET})
    args = argparse.Namespace(analysis_id=ANALYSIS.upper(), approver="root", ttl="15m")
    assert token_command(args, settings) == 0
    printed = capsys.readouterr().out.strip()
    approval = verify_token(settings, printed, ANALYSIS, now=datetime.now(UTC))
    assert approval.approver == "root"


def test_token_command_refuses_a_bad_id() -> None:
    """`selfmod token` with an id that is not a UUID is a clear error."""
    args = argparse.Namespace(analysis_id="mod_001", approver="root", ttl="15m")
    with pytest.raises(ConfigError, match="not a UUID"):
        token_command(args, load_settings({"SELFMOD_APPROVAL_SECRET": SECRET}))
