"""Fixtures for the generator tests; the rule fixtures are data, not tests of this suite."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

# The fixture folders hold their own tests, run against rewritten copies in a subprocess.
collect_ignore = ["fixtures"]
