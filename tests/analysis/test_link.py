"""Tests of linking: call resolution, tests of functions, public API, module graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.analysis.index import build_index
from bot.analysis.model import CodebaseIndex

PROJECT = Path(__file__).parent / "fixtures" / "project"


@pytest.fixture(scope="module")
def index() -> CodebaseIndex:
    """Index the shop fixture project once."""
    return build_index(PROJECT)


def test_call_through_package_reexport_resolves(index: CodebaseIndex) -> None:
    """`from shop import total_price` reaches the function defined in shop.pricing."""
    callers = {site.caller for site in index.callers_of("shop.pricing.total_price")}
    assert {"test_pricing.test_total_of_nothing", "shop.cart.Cart.total",
            "bench_pricing.time_total"} <= callers


def test_self_call_resolves_through_base_class(index: CodebaseIndex) -> None:
    """`self.describe()` in Cart resolves to the method inherited from Base."""
    targets = {s.expression: s.target for s in index.calls_from("shop.cart.Cart.summary")}
    assert targets == {"self.describe": "shop.cart.Base.describe",
                       "self.total": "shop.cart.Cart.total"}


def test_module_alias_call_resolves(index: CodebaseIndex) -> None:
    """`_rates.default_rates()` after `from shop import _rates` reaches the module's function."""
    assert index.fan_in("shop._rates.default_rates") == 1


def test_unresolvable_calls_are_kept_without_target(index: CodebaseIndex) -> None:
    """A call to something outside the project keeps its expression and no target."""
    sites = index.calls_from("shop.pricing.total_price")
    assert ("rates.get", None) in {(s.expression, s.target) for s in sites}


def test_pytest_and_unittest_tests_are_found(index: CodebaseIndex) -> None:
    """Module-level test functions and TestCase methods are tests; fixtures and setUp are not."""
    assert set(index.tests) == {"test_pricing.test_total_of_nothing",
                                "test_pricing.test_cart_total",
                                "test_cart_unittest.CartCase.test_summary"}


def test_tests_for_follows_fixtures_and_setup(index: CodebaseIndex) -> None:
    """A fixture's and a setUp's calls count for the tests that use them."""
    tests = {link.test: link.distance for link in index.tests_for("shop.cart.Cart.__init__")}
    assert tests == {"test_pricing.test_cart_total": 2,
                     "test_cart_unittest.CartCase.test_summary": 2}


def test_tests_for_reaches_through_calls(index: CodebaseIndex) -> None:
    """A function called by a tested function is exercised at a greater distance."""
    links = index.tests_for("shop.pricing.pair_bonus")
    assert links[0].test == "test_pricing.test_total_of_nothing" and links[0].distance == 2
    assert "shop.pricing.pair_bonus" in index.tested


def test_benchmarks_are_found(index: CodebaseIndex) -> None:
    """Functions in bench/ are benchmarks, and what they call is benchmarked."""
    assert index.benchmarks == ("bench_pricing.time_total",)
    assert "shop.pricing.total_price" in index.benchmarked
    assert "shop.cart.Cart.summary" not in index.benchmarked


def test_public_api_honours_all_and_reexports(index: CodebaseIndex) -> None:
    """__all__ defines a module's surface; re-exports point at their definitions."""
    api = {s.qualname: s for s in index.public_api}
    assert api["shop.total_price"].kind == "reexport"
    assert api["shop.total_price"].defined_at == "shop.pricing.total_price"
    assert api["shop.Cart"].defined_at == "shop.cart.Cart"
    assert api["shop.VERSION"].kind == "variable" and api["shop.VERSION"].listed_in_all
    assert "shop.pricing._unused" not in api and "shop._rates.default_rates" not in api
    assert "shop.cart.Cart.add" in api and "shop.cart.Cart._private" not in api


def test_module_graph_lists_project_imports(index: CodebaseIndex) -> None:
    """Each module maps to the project modules it imports."""
    assert index.module_graph["shop.cart"] == ("shop.pricing",)
    assert index.module_graph["shop.pricing"] == ("shop._rates",)
    assert index.module_graph["test_pricing"] == ("shop",)


def test_function_lookup_by_qualified_name(index: CodebaseIndex) -> None:
    """A function is found by qualified name with its path, span and loops."""
    fn = index.function("shop.pricing.total_price")
    assert fn is not None and fn.path == "src/shop/pricing.py"
    assert (fn.span.start_line, fn.span.end_line, fn.max_loop_depth) == (8, 17, 2)
    assert [f.name for f in index.functions_in("src/shop/pricing.py")] == [
        "total_price", "pair_bonus", "_unused"]
