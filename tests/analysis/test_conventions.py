"""Tests of convention detection on fixture repositories of each style."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.analysis.conventions import read_style_config
from bot.analysis.index import build_index
from bot.analysis.model import Conventions

FIXTURES = Path(__file__).parent / "fixtures"
WriteTree = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture(scope="module")
def snake() -> Conventions:
    """Conventions of the snake_case, exceptions, asyncio fixture."""
    return build_index(FIXTURES / "snake_style").conventions


@pytest.fixture(scope="module")
def camel() -> Conventions:
    """Conventions of the camelCase, return codes, threads fixture."""
    return build_index(FIXTURES / "camel_style").conventions


def test_snake_case_naming_is_detected(snake: Conventions) -> None:
    """Functions and variables in snake_case are recognised as such."""
    assert snake.function_naming.value == "snake_case"
    assert snake.variable_naming.value == "snake_case"
    assert snake.function_naming.confidence > 0


def test_camel_case_naming_is_detected(camel: Conventions) -> None:
    """Functions and variables in camelCase are recognised as such."""
    assert camel.function_naming.value == "camelCase"
    assert camel.variable_naming.value == "camelCase"
    assert camel.function_naming.confidence > 0


def test_exceptions_are_detected(snake: Conventions) -> None:
    """Raising and catching reads as the exceptions style."""
    assert snake.error_handling.value == "exceptions"


def test_return_codes_are_detected(camel: Conventions) -> None:
    """Returning -1/0 and checking results against codes reads as the return-code style."""
    assert camel.error_handling.value == "return_codes"


def test_asyncio_is_detected(snake: Conventions) -> None:
    """async def, await and asyncio calls read as asyncio."""
    assert snake.concurrency.value == "asyncio"


def test_threads_are_detected(camel: Conventions) -> None:
    """threading and a thread pool read as threads."""
    assert camel.concurrency.value == "threads"


def test_quotes_docstrings_and_hints_are_measured(snake: Conventions,
                                                  camel: Conventions) -> None:
    """Quote style, docstring style and type-hint use are measured from the code."""
    assert (snake.quote_style.value, camel.quote_style.value) == ("single", "double")
    assert (snake.docstring_style.value, camel.docstring_style.value) == ("google", "sphinx")
    assert (snake.type_hints.value, camel.type_hints.value) == ("typed", "untyped")
    assert snake.quote_style.source == "measured"


def test_no_evidence_gives_default_with_zero_confidence(write_tree: WriteTree) -> None:
    """Without any sample, the PEP 8 default is reported with confidence 0."""
    conventions = build_index(write_tree({"a.py": "x = 1\n"})).conventions
    assert conventions.function_naming.value == "snake_case"
    assert conventions.function_naming.confidence == 0.0


def test_line_length_is_measured(write_tree: WriteTree) -> None:
    """Without configuration the line length is the smallest usual limit the code keeps."""
    lines = "".join(f"x{i} = '{'a' * 90}'\n" for i in range(50))
    assert build_index(write_tree({"a.py": lines})).conventions.line_length.value == "99"


def test_black_configuration_wins(write_tree: WriteTree) -> None:
    """[tool.black] sets double quotes and its line length."""
    root = write_tree({"pyproject.toml": "[tool.black]\nline-length = 100\n"})
    found = read_style_config(root)
    assert (found["line_length"].value, found["quote_style"].value) == ("100", "double")
    assert found["line_length"].source == "pyproject.toml [tool.black]"


def test_ruff_configuration_wins_over_black(write_tree: WriteTree) -> None:
    """ruff's line length and quote style are read from pyproject or ruff.toml."""
    root = write_tree({"pyproject.toml": "[tool.black]\nline-length = 100\n",
                       "ruff.toml": "line-length = 120\n[format]\nquote-style = 'single'\n"})
    found = read_style_config(root)
    assert (found["line_length"].value, found["quote_style"].value) == ("120", "single")


def test_flake8_in_setup_cfg_is_read(write_tree: WriteTree) -> None:
    """setup.cfg's [flake8] max-line-length and inline-quotes are read."""
    root = write_tree({"setup.cfg": "[flake8]\nmax-line-length = 110\ninline-quotes = '\n"})
    found = read_style_config(root)
    assert (found["line_length"].value, found["quote_style"].value) == ("110", "single")


def test_broken_tool_configuration_falls_back_to_measuring(write_tree: WriteTree) -> None:
    """Malformed pyproject.toml or setup.cfg are ignored rather than fatal."""
    root = write_tree({"pyproject.toml": "[tool.black\n", "setup.cfg": "no section\n"})
    assert read_style_config(root) == {}
