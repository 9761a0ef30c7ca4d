"""The LLM provider: ask an OpenAI-compatible endpoint to rewrite hot functions, then verify."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.generate.generator import build_excerpts
from bot.generate.suggestion import FileChange, ModificationType, Suggestion
from bot.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    from bot.analysis.model import CodebaseIndex, FunctionInfo

LLM_RULE_ID = "llm"
_MAX_CONTEXT_FUNCTIONS = 3
Status = Literal["ok", "timeout", "rate_limited", "malformed", "refused", "invalid", "error"]
SYSTEM_PROMPT = """You improve one Python function without changing its behaviour.
Answer with one JSON object and nothing else:
{"code": "<the complete rewritten function, starting at its decorators or def>",
 "reasoning": "<why it is faster and still correct, in plain words>",
 "expected_effect": "<what should improve>"}
Keep the name, parameters, defaults, annotations, decorators and return type exactly.
Change nothing outside the function. If you cannot help, answer {"refusal": "<why>"}."""


@dataclass(frozen=True)
class LLMTarget:
    """One function to improve, with what the model needs to know about it."""

    qualname: str
    path: str
    source: str  # the whole file
    first_line: int  # 1-based, the first decorator or the def
    end_line: int
    callers: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    conventions: dict[str, str] = field(default_factory=dict)
    examples: tuple[str, ...] = ()  # the repository's past accepted and rejected changes

    @property
    def function_code(self) -> str:
        """Return the function's text as it stands in the file."""
        lines = self.source.splitlines(keepends=True)
        return "".join(lines[self.first_line - 1:self.end_line])


@dataclass(frozen=True)
class LLMOutcome:
    """What happened for one target: recorded for every call, good or bad."""

    qualname: str
    status: Status
    detail: str
    attempts: int


class LLMProvider:
    """Sends hot functions to the configured endpoint; off (and says so once) without one."""

    def __init__(self, settings: Settings, *, max_attempts: int = 3,
                 max_retry_after: float = 30.0, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self._log = logger or logging.getLogger(__name__)
        self._said_off = False

    @property
    def enabled(self) -> bool:
        """Return whether an endpoint is configured."""
        return self.settings.openai_base_url is not None

    async def propose(self, targets: Sequence[LLMTarget]) -> tuple[list[Suggestion],
                                                                  list[LLMOutcome]]:
        """Ask for a rewrite of each target; return the valid suggestions and every outcome."""
        if not self.enabled:
            if not self._said_off:
                self._log.info("LLM provider off: OPENAI_BASE_URL is not set; rules only")
                self._said_off = True
            return [], []
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=self.settings.openai_base_url,
                             api_key=self.settings.openai_api_key or "not-needed",
                             timeout=self.settings.openai_timeout, max_retries=0)
        gate = asyncio.Semaphore(self.settings.openai_concurrency)
        try:
            results = await asyncio.gather(*(self._one(client, gate, t) for t in targets))
        finally:
            await client.close()
        suggestions = [s for s, _ in results if s is not None]
        outcomes = [o for _, o in results]
        for outcome in outcomes:
            self._log.info("llm %s: %s (%s, %d attempt(s))", outcome.qualname, outcome.status,
                           outcome.detail, outcome.attempts)
        return suggestions, outcomes

    async def _one(self, client: Any, gate: asyncio.Semaphore,
                   target: LLMTarget) -> tuple[Suggestion | None, LLMOutcome]:
        async with gate:
            return await self._ask(client, target)

    async def _ask(self, client: Any, target: LLMTarget) -> tuple[Suggestion | None, LLMOutcome]:
        import openai

        status: Status = "error"
        detail = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await client.chat.completions.create(
                    model=self.settings.openai_model,
                    temperature=self.settings.openai_temperature,
                    max_tokens=self.settings.openai_max_tokens,
                    response_format={"type": "json_object"},
                    messages=[{"role": "system", "content": SYSTEM_PROMPT},
                              {"role": "user", "content": build_prompt(target)}],
                )
            except openai.APITimeoutError:
                status, detail = "timeout", f"no answer within {self.settings.openai_timeout}s"
                continue
            except openai.RateLimitError as exc:
                wait = _retry_after(exc.response.headers.get("retry-after"))
                status, detail = "rate_limited", f"429, retry after {wait}s"
                if wait > self.max_retry_after:
                    break
                await asyncio.sleep(wait)
                continue
            except openai.APIStatusError as exc:
                status, detail = "error", f"HTTP {exc.status_code}"
                if exc.status_code < 500:
                    break
                continue
            except (openai.APIConnectionError, openai.APIResponseValidationError,
                    json.JSONDecodeError) as exc:
                status, detail = "malformed" if not isinstance(
                    exc, openai.APIConnectionError) else "error", exc.__class__.__name__
                continue
            return self._judge(target, response, attempt)
        return None, LLMOutcome(target.qualname, status, detail, attempt)

    def _judge(self, target: LLMTarget, response: Any,
               attempt: int) -> tuple[Suggestion | None, LLMOutcome]:
        message = response.choices[0].message if response.choices else None
        if message is None:
            return None, LLMOutcome(target.qualname, "malformed", "no choices", attempt)
        if getattr(message, "refusal", None):
            return None, LLMOutcome(target.qualname, "refused", str(message.refusal), attempt)
        try:
            answer = json.loads(message.content or "")
        except json.JSONDecodeError:
            return None, LLMOutcome(target.qualname, "malformed", "the answer is not JSON",
                                    attempt)
        if not isinstance(answer, dict):
            return None, LLMOutcome(target.qualname, "malformed", "not a JSON object", attempt)
        if "refusal" in answer:
            return None, LLMOutcome(target.qualname, "refused", str(answer["refusal"]), attempt)
        try:
            suggestion = build_llm_suggestion(target, answer)
        except ValueError as exc:
            return None, LLMOutcome(target.qualname, "invalid", str(exc), attempt)
        return suggestion, LLMOutcome(target.qualname, "ok", "validated", attempt)


def _retry_after(header: str | None) -> float:
    try:
        return max(0.0, float(header)) if header is not None else 1.0
    except ValueError:
        return 1.0


def build_prompt(target: LLMTarget) -> str:
    """Build the user message: the function, its callers, its tests and the conventions."""
    parts = [f"Function `{target.qualname}` in {target.path}:\n```python\n"
             f"{target.function_code}```"]
    if target.callers:
        parts.append("Its callers:\n" + "\n".join(f"```python\n{c}```" for c in target.callers))
    if target.tests:
        parts.append("Tests that exercise it:\n" + "\n".join(
            f"```python\n{t}```" for t in target.tests))
    if target.conventions:
        parts.append("Repository conventions: " + ", ".join(
            f"{k}={v}" for k, v in sorted(target.conventions.items())))
    if target.examples:
        parts.append("Changes this repository's reviewers accepted or rejected before (follow "
                     "what they accepted, avoid what they rejected):\n\n"
                     + "\n\n".join(target.examples))
    return "\n\n".join(parts)


def build_llm_suggestion(target: LLMTarget, answer: dict[str, Any]) -> Suggestion:
    """Validate an answer and turn it into a Suggestion; raise ValueError saying what is wrong."""
    code, reasoning = answer.get("code"), answer.get("reasoning")
    if not isinstance(code, str) or not isinstance(reasoning, str) or not reasoning.strip():
        raise ValueError("the answer lacks `code` or `reasoning` text")
    original = _single_function(textwrap.dedent(target.function_code), "the original")
    try:
        rewritten = _single_function(textwrap.dedent(code), "the answer")
    except SyntaxError as exc:
        raise ValueError(f"the code does not parse: {exc.msg} (line {exc.lineno})") from None
    if rewritten.name != original.name:
        raise ValueError(f"the answer renames `{original.name}` to `{rewritten.name}`")
    if _signature(rewritten) != _signature(original):
        raise ValueError("the answer changes the signature, decorators or async-ness")
    if ast.dump(rewritten) == ast.dump(original):
        raise ValueError("the answer changes nothing")
    modified = _replace_function(target, textwrap.dedent(code))
    try:
        compile(modified, target.path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ValueError(f"the file no longer compiles: {exc.msg}") from None
    before, after = build_excerpts(target.source, modified)
    effect = answer.get("expected_effect")
    return Suggestion(
        modification_type=ModificationType.PERFORMANCE,
        files=(FileChange(target.path, target.source, modified),),
        original_code=before,
        modified_code=after,
        reasoning=f"LLM rewrite of `{target.qualname}`: {reasoning.strip()}",
        rule_id=LLM_RULE_ID,
        target_symbols=(target.qualname,),
        expected_effect=effect if isinstance(effect, str) else "faster",
        title=f"Rewrite {target.qualname.rsplit('.', 1)[-1]} (LLM)",
    )


def _single_function(code: str, what: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    tree = ast.parse(code)
    if len(tree.body) != 1 or not isinstance(tree.body[0],
                                             (ast.FunctionDef, ast.AsyncFunctionDef)):
        # Anything besides the one function would reach outside it.
        raise ValueError(f"{what} is not exactly one function definition")
    return tree.body[0]


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return "|".join((type(node).__name__, ast.dump(node.args),
                     ast.dump(node.returns) if node.returns else "",
                     *(ast.dump(d) for d in node.decorator_list)))


def _replace_function(target: LLMTarget, code: str) -> str:
    lines = target.source.splitlines(keepends=True)
    first = lines[target.first_line - 1]
    indent = first[:len(first) - len(first.lstrip())]
    body = textwrap.indent(code if code.endswith("\n") else code + "\n", indent)
    return "".join(lines[:target.first_line - 1]) + body + "".join(lines[target.end_line:])


def build_llm_targets(root: Path, index: CodebaseIndex, limit: int = 5) -> list[LLMTarget]:
    """Return the top hot spots as targets, with callers, tests and conventions."""
    from bot.analysis.hotspots import rank_hot_spots

    conventions = {name: c.value for name, c in index.conventions.as_dict().items()}
    targets = []
    for spot in rank_hot_spots(index, limit):
        function = index.function(spot.qualname)
        source = _read(root / spot.path)
        if function is None or source is None:
            continue
        callers = [index.function(site.caller) for site in index.callers_of(spot.qualname)]
        tests = [index.function(link.test) for link in index.tests_for(spot.qualname)]
        targets.append(LLMTarget(
            spot.qualname, spot.path, source, function.first_line, function.span.end_line,
            callers=_codes(root, callers), tests=_codes(root, tests), conventions=conventions))
    return targets


def _codes(root: Path, functions: Sequence[FunctionInfo | None]) -> tuple[str, ...]:
    found = []
    for function in functions[:_MAX_CONTEXT_FUNCTIONS]:
        if function is None:
            continue
        source = _read(root / function.path)
        if source is not None:
            lines = source.splitlines(keepends=True)
            found.append("".join(lines[function.first_line - 1:function.span.end_line]))
    return tuple(found)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
