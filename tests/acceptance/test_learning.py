"""Story 4, context-aware learning: feedback changes what the next session suggests."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.generate.llm import LLMProvider
from bot.generate.llm_double import LLMDouble, ScriptedReply
from bot.generate.suggestion import Suggestion
from bot.github.modifications import update_modification
from bot.learning.patterns import (
    breaks_api_contract,
    follows_naming_conventions,
    uses_asyncio_pattern,
    uses_exception_handling,
    uses_snake_case_naming,
)
from bot.learning.suggest import LearningEngine
from bot.settings import Settings
from bot.store.db import create_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learning"))
from codebases import create_codebase_with_patterns

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
GOALS = ["improve_performance"]

SHOP = '''"""Stock keeping."""


def find_duplicates(items):
    seen = []
    duplicates = []
    for item in items:
        if item in seen:
            duplicates.append(item)
        seen.append(item)
    return duplicates


def total_price(prices, quantities):
    total = 0
    for index in range(len(prices)):
        total = total + prices[index] * quantities[index]
    return total


async def fetch_all(loader, names):
    results = []
    for name in names:
        results.append(await loader(name))
    return results
'''
SHOP_TEST = '''from shop.inventory import find_duplicates, total_price


def test_find_duplicates():
    assert find_duplicates([1, 2, 1]) == [1]


def test_total_price():
    assert total_price([1, 2], [3, 4]) == 11
'''
# Rewrites an LLM might answer: fast, but each with a different habit.
CAMEL = '''def find_duplicates(items):
    seenSet = set()
    duplicateList = []
    for item in items:
        if item in seenSet:
            duplicateList.append(item)
        seenSet.add(item)
    return duplicateList
'''
API_CHANGE = '''def total_price(prices, quantities):
    if len(prices) != len(quantities):
        raise ValueError("prices and quantities differ in length")
    return sum(price * quantity for price, quantity in zip(prices, quantities))
'''
GOOD_ASYNC = '''async def fetch_all(loader, names):
    return [await loader(name) for name in names]
'''


def answer(code: str) -> ScriptedReply:
    """Return an LLM answer with this rewrite."""
    return ScriptedReply.json_answer({"code": code, "reasoning": "fewer steps per item",
                                      "expected_effect": "faster"})


def count_matches(number: int, body: str) -> str:
    """Return a rewrite of the generated codebase's count_matches_<number>."""
    return f"def count_matches_{number}(values, wanted):\n{body}"


@pytest.fixture
async def sessions(migrated_engine: AsyncEngine) -> AsyncIterator[
        async_sessionmaker[AsyncSession]]:
    """Return a sessionmaker on a fresh migrated database."""
    yield create_sessionmaker(migrated_engine)


def write_shop(root: Path) -> Path:
    """Write the small shop package (too small for conventions to bind by themselves)."""
    (root / "shop" / "tests").mkdir(parents=True)
    (root / "shop" / "shop").mkdir()
    (root / "shop" / "shop" / "__init__.py").write_text("")
    (root / "shop" / "shop" / "inventory.py").write_text(SHOP)
    (root / "shop" / "tests" / "test_inventory.py").write_text(SHOP_TEST)
    return root / "shop"


def llm_for(double: LLMDouble) -> LLMProvider:
    """Return a provider asking the double one target at a time (answers in target order)."""
    return LLMProvider(Settings(openai_base_url=double.base_url, openai_timeout=5.0,
                                openai_concurrency=1))


def by_target(suggestions: list[Suggestion]) -> dict[str, Suggestion]:
    """Return suggestions by the function they change."""
    return {s.target_symbols[0].rsplit(".", 1)[-1]: s for s in suggestions}


def modified_file(suggestion: Suggestion) -> str:
    """Return the generated code: the whole modified file."""
    return suggestion.files[0].modified or ""


async def test_context_learning(sessions: async_sessionmaker[AsyncSession],
                                tmp_path: Path) -> None:
    """After feedback about a broken API and naming, the next session avoids both patterns."""
    codebase = write_shop(tmp_path)
    script = [answer(CAMEL), answer(API_CHANGE), answer(GOOD_ASYNC)]
    async with LLMDouble(script) as double:
        engine = LearningEngine(sessions, llm=llm_for(double))
        first = by_target(await engine.generate_suggestions(codebase, GOALS))
        # Before learning, the small codebase binds no convention: all three are suggested.
        assert set(first) == {"find_duplicates", "total_price", "fetch_all"}
        assert breaks_api_contract(SHOP, modified_file(first["total_price"]))
        assert not follows_naming_conventions(modified_file(first["find_duplicates"]))

        feedback_data = [
            {"modification_id": str(first["fetch_all"].id), "rating": 5,
             "comment": "Great performance improvement"},
            {"modification_id": str(first["total_price"].id), "rating": 2,
             "comment": "Broke existing API contract"},
            {"modification_id": str(first["find_duplicates"].id), "rating": 4,
             "comment": "Good but inconsistent naming"},
        ]
        learning_result = await engine.learn_from_feedback(feedback_data, now=utcnow())
        assert learning_result.recorded == 3
        [learned] = learning_result.to_json()["repositories"]
        assert {c["category"] for c in learned["constraints"]} == {"api_contract", "naming"}

        double.add(*script)
        run = await engine.run(codebase, GOALS, "conservative")
    new_suggestions = list(run.suggestions)
    assert [s.target_symbols[0] for s in new_suggestions] == ["shop.inventory.fetch_all"]
    for suggestion in new_suggestions:
        assert not breaks_api_contract(suggestion.files[0].original, modified_file(suggestion))
        assert follows_naming_conventions(modified_file(suggestion))
    refused = {s.target_symbols[0].rsplit(".", 1)[-1]: " ".join(r) for s, r in run.refused}
    assert "learned (API contract): changes the exceptions `total_price` raises" in \
        refused["total_price"]
    assert "new names not in snake_case: duplicateList, seenSet" in refused["find_duplicates"]
    # The prompt of the second session carried the accepted and rejected examples.
    last = double.requests[-1]["messages"][-1]["content"]
    assert "ACCEPTED (llm)" in last and "REJECTED (llm)" in last
    assert "Broke existing API contract" in last


async def test_codebase_pattern_adaptation(sessions: async_sessionmaker[AsyncSession],
                                           tmp_path: Path) -> None:
    """Suggestions in a snake_case, exception-raising, asyncio codebase follow those patterns."""
    codebase = create_codebase_with_patterns(tmp_path, error_handling="exceptions",
                                             naming_convention="snake_case",
                                             async_pattern="asyncio")
    habits = [
        answer(count_matches(0, "    wantedSet = set(wanted)\n"
                                "    return sum(1 for value in values if value in wantedSet)\n")),
        answer(count_matches(1, "    import concurrent.futures\n"
                                "    with concurrent.futures.ThreadPoolExecutor() as pool:\n"
                                "        hits = list(pool.map(wanted.__contains__, values))\n"
                                "    return sum(hits)\n")),
        answer(count_matches(2, "    if values is None:\n        return -1\n"
                                "    return sum(1 for value in values if value in wanted)\n")),
        answer(count_matches(3, "    wanted_set = set(wanted)\n"
                                "    return sum(1 for value in values if value in wanted_set)\n")),
        answer(count_matches(4, "    return sum(1 for value in values if value in wanted)\n")),
    ]
    async with LLMDouble(habits) as double:
        engine = LearningEngine(sessions, llm=llm_for(double))
        run = await engine.run(codebase.path, ["improve_performance", "fix_bugs"],
                               "conservative")
    modifications = list(run.suggestions)
    targets = {m.target_symbols[0].rsplit(".", 1)[-1] for m in modifications}
    assert {"count_matches_3", "count_matches_4", "load_record_0"} <= targets
    for mod in modifications:
        code = modified_file(mod)
        assert uses_exception_handling(code)
        assert uses_snake_case_naming(code)
        assert uses_asyncio_pattern(code)
    refused = {s.target_symbols[0].rsplit(".", 1)[-1]: (s, " ".join(r)) for s, r in run.refused}
    assert set(refused) == {"count_matches_0", "count_matches_1", "count_matches_2"}
    assert not uses_snake_case_naming(modified_file(refused["count_matches_0"][0]))
    assert "new names not in snake_case: wantedSet" in refused["count_matches_0"][1]
    assert not uses_asyncio_pattern(modified_file(refused["count_matches_1"][0]))
    assert "threads in a repository that uses asyncio" in refused["count_matches_1"][1]
    assert not uses_exception_handling(modified_file(refused["count_matches_2"][0]))
    assert "return codes in a repository that raises exceptions" in refused["count_matches_2"][1]


async def test_rollback_for_a_broken_api_rejects_that_kind_next_time(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    """A rollback saying "broke the API" makes the next session refuse what it accepted before."""
    codebase = write_shop(tmp_path)
    script = [answer(CAMEL), answer(API_CHANGE), answer(GOOD_ASYNC)]
    async with LLMDouble(script + script) as double:
        engine = LearningEngine(sessions, llm=llm_for(double))
        first = by_target(await engine.generate_suggestions(codebase, GOALS))
        accepted = first["total_price"]
        await update_modification(sessions, accepted.id, {"source": "pull_request",
                                                          "rating": 1, "category": "merged"},
                                  status="applied", applied_at=utcnow())
        await update_modification(sessions, accepted.id, None, status="rolled_back",
                                  rollback_at=utcnow(), rollback_reason="broke the API")
        run = await engine.run(codebase, GOALS, "conservative")
    assert "total_price" not in by_target(list(run.suggestions))
    [(refused, reasons)] = [(s, r) for s, r in run.refused
                            if s.target_symbols[0].endswith("total_price")]
    assert modified_file(refused) == modified_file(accepted)
    assert any(r.endswith("learned (API contract): changes the exceptions `total_price` raises "
                          "(none → ValueError)") for r in reasons)
    assert run.learning.to_json()["constraints"][0]["because"].startswith(
        "rolled back: broke the API")


async def test_heavy_steps_leave_the_event_loop_free(
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexing, generation and validation run in a thread: the caller's loop serves others."""
    import threading

    from bot.learning import suggest as module

    on_loop_thread: dict[str, bool] = {}

    def watched(name: str) -> Any:
        work = getattr(module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            on_loop_thread[name] = threading.current_thread() is threading.main_thread()
            return work(*args, **kwargs)
        return call

    for name in ("build_index", "generate_suggestions", "validate"):
        monkeypatch.setattr(module, name, watched(name))
    (tmp_path / "check.py").write_text("def missing(value):\n    return value == None\n")
    run = await LearningEngine(sessions).run(tmp_path, ["fix_bugs"], "moderate")
    assert run.suggestions or run.refused, "validation must have run on a suggestion"
    assert on_loop_thread == {"build_index": False, "generate_suggestions": False,
                              "validate": False}
