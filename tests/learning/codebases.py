"""Codebases with chosen patterns, written for the learning tests (data, not tests)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Codebase:
    """A generated codebase and the patterns it was written in."""

    path: Path
    error_handling: str
    naming_convention: str
    async_pattern: str


def _name(words: list[str], naming: str) -> str:
    if naming == "camelCase":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    return "_".join(words)


def _module(number: int, naming: str, errors: str, concurrency: str) -> str:
    """Return one module of several functions in the chosen patterns."""
    load = _name(["load", "record", str(number)], naming)
    parse = _name(["parse", "line", str(number)], naming)
    count = _name(["count", "matches", str(number)], naming)
    fetch = _name(["fetch", "many", str(number)], naming)
    item_list, line_text, total_count = (_name(w, naming) for w in (
        ["item", "list"], ["line", "text"], ["total", "count"]))
    if errors == "exceptions":
        failing = f"        raise ValueError({line_text})"
        handler = (f"    except KeyError as error:\n"
                   f"        raise LookupError({line_text}) from error")
    else:
        failing = "        return -1"
        handler = "    except KeyError:\n        return -1"
    if concurrency == "asyncio":
        head = "import asyncio\n"
        worker = (f"async def {fetch}(loader, keys):\n"
                  f"    {item_list} = []\n    for key in keys:\n"
                  f"        {item_list}.append(await loader(key))\n"
                  f"    await asyncio.sleep(0)\n    return {item_list}\n")
    else:
        head = "import threading\n"
        worker = (f"def {fetch}(loader, keys):\n    {item_list} = []\n"
                  f"    threads = [threading.Thread(target=lambda k=key: {item_list}.append("
                  "loader(k))) for key in keys]\n"
                  "    for thread in threads:\n        thread.start()\n"
                  "    for thread in threads:\n        thread.join()\n"
                  f"    return {item_list}\n")
    return head + textwrap.dedent(f"""

def {parse}({line_text}, table):
    if not {line_text}:
{failing}
    try:
        return table[{line_text}]
{handler}


def {count}(values, wanted):
    {total_count} = 0
    for value in values:
        if value in wanted:
            {total_count} = {total_count} + 1
    return {total_count}


def {load}(rows):
    {item_list} = []
    for row in rows:
        {item_list}.append(row)
    return {item_list}


""") + worker


def create_codebase_with_patterns(
        dest: Path, *, error_handling: Literal["exceptions", "return_codes"] = "exceptions",
        naming_convention: Literal["snake_case", "camelCase"] = "snake_case",
        async_pattern: Literal["asyncio", "threading"] = "asyncio",
        modules: int = 6) -> Codebase:
    """Write a package of modules in the given patterns, with a test per module."""
    package = dest / "app"
    (package / "app").mkdir(parents=True)
    (package / "tests").mkdir()
    (package / "app" / "__init__.py").write_text("")
    concurrency = "asyncio" if async_pattern == "asyncio" else "threads"
    for number in range(modules):
        (package / "app" / f"part{number}.py").write_text(
            _module(number, naming_convention, error_handling, concurrency))
        count = _name(["count", "matches", str(number)], naming_convention)
        (package / "tests" / f"test_part{number}.py").write_text(
            f"from app.part{number} import {count}\n\n\n"
            f"def test_count():\n    assert {count}([1, 2, 3], [2, 3]) == 2\n")
    return Codebase(package, error_handling, naming_convention, async_pattern)
