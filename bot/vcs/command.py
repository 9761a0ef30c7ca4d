"""`selfmod verify`: offline check of a commit's Selfmod-Signature."""

from __future__ import annotations

import argparse

from bot.errors import NotAvailableError
from bot.settings import Settings


def verify_command(args: argparse.Namespace, settings: Settings) -> int:
    """Verify a commit or print the public key."""
    raise NotAvailableError("commit signing arrives with the pull-request loop")
