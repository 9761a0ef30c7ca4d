"""`selfmod run`: the whole pipeline on a local git repository."""

from __future__ import annotations

import argparse

from bot.errors import NotAvailableError
from bot.settings import Settings


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the pipeline on a local repository and print the report."""
    raise NotAvailableError("the local pipeline arrives with performance validation")
