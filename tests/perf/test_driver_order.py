"""The order the sandbox driver runs an A/B pair in, imported from a staged copy of the tools."""

from __future__ import annotations

import importlib.util
import itertools
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from bot.perf.sandboxed import stage_tools


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[ModuleType]:
    """The driver as the sandbox has it: staged beside its copy of the statistics module."""
    stage_tools(tmp_path / "_selfmod")
    spec = importlib.util.spec_from_file_location("staged_driver",
                                                  tmp_path / "_selfmod" / "selfmod_driver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("stats", None)
    sys.path.remove(str(tmp_path / "_selfmod"))


def test_each_block_of_two_pairs_runs_both_orders(driver: ModuleType) -> None:
    """Pairs come in blocks A B + B A or B A + A B, so each side runs first equally often."""
    orders = list(itertools.islice(driver.run_orders("a", "b", random.Random(1)), 400))
    for first, second in zip(orders[::2], orders[1::2], strict=True):
        assert second == first[::-1]
    assert sum(order == ("a", "b") for order in orders) == 200


def test_block_orders_are_drawn_not_alternated(driver: ModuleType) -> None:
    """Which order opens a block is drawn: both occur, and runs of the same one happen."""
    openers = list(itertools.islice(driver.run_orders("a", "b", random.Random(2)), 0, 400, 2))
    assert 70 < sum(order == ("a", "b") for order in openers) < 130
    assert any(x == y for x, y in itertools.pairwise(openers))
