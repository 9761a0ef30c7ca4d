"""The repository's style as generated code must follow it: names, quotes, line length."""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Naming = Literal["snake_case", "camelCase"]
_CAMEL = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_FORMATTER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Style:
    """How new code is written: identifier style, quote character and line length."""

    naming: Naming = "snake_case"
    quote: Literal['"', "'"] = '"'
    line_length: int = 88
    formatter: Literal["black", "ruff", None] = None

    def local_name(self, words: list[str]) -> str:
        """Return a variable name made of `words` in the repository's naming style."""
        words = [w.lower() for w in words] or ["value"]
        if self.naming == "camelCase":
            return words[0] + "".join(w.capitalize() for w in words[1:])
        return "_".join(words)

    def constant_name(self, words: list[str]) -> str:
        """Return a module constant name (UPPER_CASE in either style)."""
        return "_".join(w.upper() for w in words) or "VALUE"

    def string(self, text: str) -> str:
        """Return a string literal for `text` in the preferred quote character."""
        literal = repr(text)
        if self.quote == '"' and literal.startswith("'") and '"' not in text:
            return '"' + literal[1:-1] + '"'
        return literal

    def long_lines(self, before: str, after: str) -> list[str]:
        """Return the lines of `after` over the limit that `before` did not already have."""
        old = set(before.splitlines())
        return [line for line in after.splitlines()
                if len(line) > self.line_length and line not in old]


def measure_style(sources: list[str], *, line_length: int | None = None) -> Style:
    """Measure the naming and quote style of some modules (used when no index says it)."""
    snake = camel = double = single = 0
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            name = _defined_name(node)
            if name and _CAMEL.match(name):
                camel += 1
            elif name and _SNAKE.match(name):
                snake += 1
        d, s = _count_quotes(source)
        double, single = double + d, single + s
    return Style(
        naming="camelCase" if camel > snake else "snake_case",
        quote="'" if single > double else '"',
        line_length=line_length or 88,
    )


def _defined_name(node: ast.AST) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id
    return None


def _count_quotes(source: str) -> tuple[int, int]:
    double = single = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING:
                body = token.string.lstrip("rRbBuUfF")
                if body.startswith('"'):
                    double += 1
                elif body.startswith("'"):
                    single += 1
    except (tokenize.TokenError, SyntaxError):
        pass
    return double, single


def configured_formatter(root: Path) -> Literal["black", "ruff", None]:
    """Return the formatter the repository configures in pyproject.toml, if any."""
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "[tool.black]" in text:
        return "black"
    if "[tool.ruff.format]" in text:
        return "ruff"
    return None


def host_formatter(name: str) -> str | None:
    """Return the host's formatter: the one installed beside this Python (a virtual
    environment need not be on PATH), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def format_source(source: str, style: Style, root: Path, path: str) -> str | None:
    """Format with the host's formatter the repository configures; None when unavailable.

    Only a formatter installed on the host runs, never anything from the repository, and with
    `--isolated` so no configuration file can point it elsewhere: the settings we pass are the
    line length and quote style we detected.
    """
    if style.formatter is None:
        return None
    binary = host_formatter(style.formatter)
    if binary is None:
        return None
    quote = "single" if style.quote == "'" else "double"
    if style.formatter == "ruff":
        command = [binary, "format", "--isolated", "--line-length", str(style.line_length),
                   "--config", f"format.quote-style='{quote}'", "--stdin-filename", path, "-"]
    else:
        command = [binary, "--quiet", "--line-length", str(style.line_length),
                   *(["--skip-string-normalization"] if style.quote == "'" else []), "-"]
    try:
        done = subprocess.run(command, input=source, capture_output=True, text=True,
                              timeout=_FORMATTER_TIMEOUT, cwd=root, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
