"""Tests of the code predicates: API contracts, naming, error handling, concurrency."""

from __future__ import annotations

from bot.learning.patterns import (
    api_contract_changes,
    breaks_api_contract,
    follows_naming_conventions,
    uses_asyncio_pattern,
    uses_exception_handling,
    uses_snake_case_naming,
)

RAISES = "def get(table, key):\n    if key not in table:\n        raise KeyError(key)\n" \
         "    return table[key]\n"


def test_a_faster_body_keeps_the_contract() -> None:
    """Rewriting the body without touching exceptions or returns keeps the contract."""
    same = "def get(table, key):\n    if key in table:\n        return table[key]\n" \
           "    raise KeyError(key)\n"
    assert not breaks_api_contract(RAISES, same)


def test_other_exceptions_break_the_contract() -> None:
    """Raising another exception type breaks the contract."""
    other = RAISES.replace("KeyError", "LookupError")
    assert api_contract_changes(RAISES, other) == [
        "changes the exceptions `get` raises (KeyError → LookupError)"]


def test_return_codes_and_return_types_break_the_contract() -> None:
    """Returning an error value, or annotating another return type, breaks the contract."""
    code = "def get(table, key):\n    if key not in table:\n        return None\n" \
           "    return table[key]\n"
    assert "makes `get` return error values (None)" in api_contract_changes(RAISES, code)
    typed = "def f() -> int:\n    return 1\n"
    assert breaks_api_contract(typed, typed.replace("-> int", "-> str"))


def test_private_functions_have_no_contract() -> None:
    """Changes to private helpers are not API changes."""
    assert not breaks_api_contract("def _f():\n    raise KeyError\n",
                                   "def _f():\n    return -1\n")


def test_naming_predicates() -> None:
    """Snake case passes, camelCase names fail, constants and classes follow their own case."""
    assert uses_snake_case_naming("MAX_SIZE = 3\nclass Box:\n    pass\n"
                                  "def load_all(item_list):\n    total = 0\n")
    assert not uses_snake_case_naming("def loadAll(items):\n    pass\n")
    assert follows_naming_conventions("def loadAll(itemList):\n    pass\n", "camelCase")
    assert not follows_naming_conventions("def f(:\n", "snake_case")


def test_exception_handling_predicate() -> None:
    """Raising passes; returning codes, swallowing into codes and checking codes fail."""
    assert uses_exception_handling(RAISES)
    assert not uses_exception_handling("def f():\n    return -1\n")
    assert not uses_exception_handling("def f():\n    try:\n        g()\n"
                                       "    except OSError:\n        return False\n")
    assert not uses_exception_handling("if run() == -1:\n    pass\n")


def test_asyncio_predicate() -> None:
    """Coroutines pass; threads and blocking sleeps in coroutines fail."""
    assert uses_asyncio_pattern("import asyncio\nasync def f():\n    await asyncio.sleep(1)\n")
    assert uses_asyncio_pattern("def plain():\n    return 1\n")
    assert not uses_asyncio_pattern("import threading\n")
    assert not uses_asyncio_pattern("def f(pool):\n    return ThreadPoolExecutor()\n")
    assert not uses_asyncio_pattern("import time\nasync def f():\n    time.sleep(1)\n")
