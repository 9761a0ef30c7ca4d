"""The LLM provider, tested over real HTTP against the scripted OpenAI-compatible double."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from unidiff import PatchSet

from bot.generate.llm import LLMProvider, LLMTarget, build_prompt
from bot.generate.llm_double import LLMDouble, ScriptedReply
from bot.settings import Settings

SOURCE = '''"""Module."""


class Totals:
    def total(self, values: list[int]) -> int:
        result = 0
        for v in values:
            result = result + v
        return result
'''
GOOD_CODE = ("def total(self, values: list[int]) -> int:\n"
             "    return sum(values)\n")
TARGET = LLMTarget("pkg.mod.Totals.total", "pkg/mod.py", SOURCE, 5, 9,
                   callers=("def use(t):\n    return t.total([1])\n",),
                   tests=("def test_total():\n    assert Totals().total([1, 2]) == 3\n",),
                   conventions={"quote_style": "double"})
GOOD = ScriptedReply.json_answer({"code": GOOD_CODE, "reasoning": "sum runs in C",
                                  "expected_effect": "faster summing"})


def _settings(url: str | None, **changes: object) -> Settings:
    return replace(Settings(openai_base_url=url, openai_timeout=2.0), **changes)


async def _propose(double: LLMDouble, **changes: object):  # type: ignore[no-untyped-def]
    provider = LLMProvider(_settings(double.base_url, **changes), max_retry_after=2.0)
    return await provider.propose([TARGET])


async def test_valid_answer_becomes_an_llm_suggestion() -> None:
    """A valid rewrite becomes a Suggestion with rule id llm, a parseable diff and the method."""
    async with LLMDouble([GOOD]) as double:
        suggestions, outcomes = await _propose(double)
    [suggestion] = suggestions
    assert outcomes[0].status == "ok" and suggestion.rule_id == "llm"
    modified = suggestion.files[0].modified or ""
    assert "    def total(self, values: list[int]) -> int:\n        return sum(values)" in modified
    assert len(PatchSet(suggestion.diff)) == 1
    assert suggestion.target_symbols == ("pkg.mod.Totals.total",)


async def test_request_carries_settings_function_callers_tests_and_conventions() -> None:
    """The request uses the configured model and limits and sends the whole context."""
    async with LLMDouble([GOOD]) as double:
        await _propose(double, openai_model="m-7", openai_temperature=0.5,
                       openai_max_tokens=123)
    [request] = double.requests
    assert (request["model"], request["temperature"], request["max_tokens"]) == ("m-7", 0.5, 123)
    user = request["messages"][-1]["content"]
    assert user == build_prompt(TARGET)
    assert "def use(t)" in user and "def test_total" in user and "quote_style=double" in user


async def test_rate_limit_waits_for_retry_after_and_retries() -> None:
    """A 429 with Retry-After is waited out and retried; the outcome counts the attempts."""
    async with LLMDouble([ScriptedReply(status=429, retry_after="0.2"), GOOD]) as double:
        suggestions, outcomes = await _propose(double)
    assert len(suggestions) == 1 and outcomes[0].attempts == 2 and len(double.requests) == 2


async def test_rate_limit_longer_than_allowed_gives_up() -> None:
    """A Retry-After beyond the limit is recorded as rate_limited without waiting."""
    async with LLMDouble([ScriptedReply(status=429, retry_after="3600")]) as double:
        suggestions, outcomes = await _propose(double)
    assert suggestions == [] and outcomes[0].status == "rate_limited"


async def test_slow_answer_times_out_after_every_attempt() -> None:
    """An endpoint slower than the timeout is recorded as timeout after the attempts."""
    slow = ScriptedReply(content="{}", delay=1.0)
    async with LLMDouble([slow, slow, slow]) as double:
        provider = LLMProvider(_settings(double.base_url, openai_timeout=0.2))
        suggestions, outcomes = await provider.propose([TARGET])
    assert suggestions == [] and outcomes[0].status == "timeout" and outcomes[0].attempts == 3


async def test_malformed_json_content_is_recorded() -> None:
    """A message that is not JSON is recorded as malformed."""
    async with LLMDouble([ScriptedReply(content="def total(self): ...")]) as double:
        suggestions, outcomes = await _propose(double)
    assert suggestions == [] and outcomes[0].status == "malformed"


async def test_malformed_http_body_is_retried_then_recorded() -> None:
    """A completion body that is not JSON is retried, then recorded as malformed."""
    broken = ScriptedReply(raw_body="{not json")
    async with LLMDouble([broken, broken, broken]) as double:
        suggestions, outcomes = await _propose(double)
    assert suggestions == [] and outcomes[0].status == "malformed"


@pytest.mark.parametrize("reply", [
    ScriptedReply(refusal="I can't help with that."),
    ScriptedReply.json_answer({"refusal": "not safe"}),
])
async def test_refusals_are_recorded(reply: ScriptedReply) -> None:
    """A refusal (the message field or in the JSON) is recorded and yields no suggestion."""
    async with LLMDouble([reply]) as double:
        suggestions, outcomes = await _propose(double)
    assert suggestions == [] and outcomes[0].status == "refused"


@pytest.mark.parametrize(("code", "reason"), [
    ("def total(self, values):\n    return sum(values)\n", "signature"),
    ("def sum_all(self, values: list[int]) -> int:\n    return sum(values)\n", "renames"),
    ("import os\n\ndef total(self, values: list[int]) -> int:\n    return 0\n",
     "not exactly one function"),
    ("def total(self, values: list[int]) -> int\n    return 0\n", "does not parse"),
])
async def test_invalid_rewrites_are_rejected_with_the_reason(code: str, reason: str) -> None:
    """A rewrite that changes the signature, name, or reaches outside is rejected."""
    reply = ScriptedReply.json_answer({"code": code, "reasoning": "x"})
    async with LLMDouble([reply]) as double:
        suggestions, outcomes = await _propose(double)
    assert suggestions == [] and outcomes[0].status == "invalid"
    assert reason in outcomes[0].detail


async def test_client_error_is_not_retried() -> None:
    """A 400 from the endpoint is recorded once as an error."""
    async with LLMDouble([ScriptedReply(status=400), GOOD]) as double:
        suggestions, outcomes = await _propose(double)
    assert suggestions == [] and outcomes[0].status == "error" and len(double.requests) == 1


async def test_without_endpoint_the_provider_is_off_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """Without OPENAI_BASE_URL the provider proposes nothing and logs that once."""
    provider = LLMProvider(Settings())
    with caplog.at_level(logging.INFO, logger="bot.generate.llm"):
        assert await provider.propose([TARGET]) == ([], [])
        assert await provider.propose([TARGET]) == ([], [])
    assert not provider.enabled
    assert sum("LLM provider off" in r.message for r in caplog.records) == 1
