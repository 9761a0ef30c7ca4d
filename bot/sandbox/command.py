"""`selfmod sandbox exec|build-image`: the sandbox by hand."""

from __future__ import annotations

import argparse

from bot.errors import NotAvailableError
from bot.settings import Settings


def exec_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run a command in the sandbox."""
    raise NotAvailableError("the sandbox is not built yet")


def build_image_command(args: argparse.Namespace, settings: Settings) -> int:
    """Build the sandbox base image."""
    raise NotAvailableError("the sandbox is not built yet")
