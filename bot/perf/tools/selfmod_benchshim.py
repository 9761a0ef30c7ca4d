"""A pytest plugin run in the sandbox: a `benchmark` fixture that times the calls it is given.

Stands in for pytest-benchmark so its tests measure the same way in both trees: each
`benchmark(fn, *args, **kwargs)` call runs fn SELFMOD_BENCH_ROUNDS times, timed in CPU time;
the total is written to SELFMOD_BENCH_OUT when the session ends.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

_TOTAL = {"seconds": 0.0, "calls": 0, "errors": 0}


class Benchmark:
    """The fixture's callable; also offers `pedantic` like pytest-benchmark."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds

    def __call__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        result = None
        for _ in range(self.rounds):
            started = time.process_time()
            result = func(*args, **kwargs)
            _TOTAL["seconds"] += time.process_time() - started
            _TOTAL["calls"] += 1
        return result

    def pedantic(self, target: Callable[..., Any], args: tuple[Any, ...] = (),
                 kwargs: dict[str, Any] | None = None, **_: Any) -> Any:
        return self(target, *args, **(kwargs or {}))


@pytest.fixture
def benchmark() -> Benchmark:
    """Time the function the test passes."""
    return Benchmark(int(os.environ.get("SELFMOD_BENCH_ROUNDS", "1")))


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Write the total time measured."""
    out = os.environ.get("SELFMOD_BENCH_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(_TOTAL, handle)
