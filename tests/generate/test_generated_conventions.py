"""New code follows the repository's naming, quotes and line length."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.generate.conventions import (
    Style,
    configured_formatter,
    format_source,
    host_formatter,
    measure_style,
)


def test_measured_style_follows_the_majority() -> None:
    """camelCase names and single quotes win when most of the code uses them."""
    source = "def doThing(aValue):\n    myName = 'x'\n    return 'y'\n"
    style = measure_style([source], line_length=79)
    assert (style.naming, style.quote, style.line_length) == ("camelCase", "'", 79)


def test_names_and_strings_in_each_style() -> None:
    """Local names, constants and literals are built in the chosen style."""
    assert Style(naming="camelCase").local_name(["out", "parts"]) == "outParts"
    assert Style().local_name(["out", "parts"]) == "out_parts"
    assert Style().constant_name(["word", "re"]) == "WORD_RE"
    assert Style(quote="'").string("a") == "'a'" and Style().string("a") == '"a"'


def test_only_new_long_lines_count() -> None:
    """A line over the limit counts only if the original did not already have it."""
    style = Style(line_length=10)
    assert style.long_lines("x = 1\nyyyyyyyyyyyyy\n", "yyyyyyyyyyyyy\nzzzzzzzzzzzz\n") == [
        "zzzzzzzzzzzz"]


def test_configured_formatter_is_read_from_pyproject(tmp_path: Path) -> None:
    """black or ruff format is recognised from pyproject.toml; none without config."""
    assert configured_formatter(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[tool.ruff.format]\nquote-style = 'single'\n")
    assert configured_formatter(tmp_path) == "ruff"


@pytest.mark.skipif(host_formatter("ruff") is None, reason="ruff is not installed on the host")
def test_host_ruff_formats_with_the_detected_style(tmp_path: Path) -> None:
    """The host's ruff formats with our quote style, ignoring any repository config."""
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 'bad'\n")
    style = Style(quote="'", line_length=88, formatter="ruff")
    assert format_source('x = "a"\n', style, tmp_path, "m.py") == "x = 'a'\n"


def test_no_formatter_means_no_formatting(tmp_path: Path) -> None:
    """Without a configured formatter nothing is run."""
    assert format_source("x=1\n", Style(), tmp_path, "m.py") is None
