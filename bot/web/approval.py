"""Approval tokens for the REST API's apply endpoint."""

from __future__ import annotations

import argparse

from bot.errors import NotAvailableError
from bot.settings import Settings


def token_command(args: argparse.Namespace, settings: Settings) -> int:
    """Mint an approval token and print it."""
    raise NotAvailableError("approval tokens arrive with the REST API")
