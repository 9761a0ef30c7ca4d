"""`selfmod demo`: the whole loop against the GitHub double."""

from __future__ import annotations

import argparse

from bot.errors import NotAvailableError
from bot.settings import Settings


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo story and print each step."""
    raise NotAvailableError("the demo arrives with the pull-request loop")
