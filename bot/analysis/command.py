"""`selfmod analyze`: print what the analysis engine sees."""

from __future__ import annotations

import argparse

from bot.errors import NotAvailableError
from bot.settings import Settings


def analyze_command(args: argparse.Namespace, settings: Settings) -> int:
    """Analyse a codebase and print the summary."""
    raise NotAvailableError("the analysis engine is not built yet")
