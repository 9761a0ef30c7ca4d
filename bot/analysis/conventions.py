"""Convention detection: the repository's style, from its tool configuration or measured."""

from __future__ import annotations

import configparser
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bot.analysis.discover import read_source
from bot.analysis.model import Convention, Conventions

# Full confidence needs this many discriminating samples; fewer scale it down.
_FULL_EVIDENCE = 20
_STANDARD_LENGTHS = (79, 88, 99, 100, 110, 119, 120)
_TOLERATED_OVER = 0.001  # share of lines allowed over a measured limit
_MAX_CONFIG_BYTES = 1_000_000


def detect_conventions(root: Path, counters: Iterable[Mapping[str, int]]) -> Conventions:
    """Combine per-file evidence with the repository's tool configuration."""
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    config = read_style_config(root)
    return Conventions(
        function_naming=_naming(total, "fn", "snake_case"),
        variable_naming=_naming(total, "var", "snake_case"),
        class_naming=_choose({"PascalCase": total["cls_pascal"], "other": total["cls_other"]},
                             "PascalCase"),
        error_handling=_error_handling(total),
        concurrency=_concurrency(total),
        quote_style=config.get("quote_style") or _choose(
            {"double": total["quote_double"], "single": total["quote_single"]}, "double"),
        line_length=config.get("line_length") or _line_length(total),
        docstring_style=_docstrings(total),
        type_hints=_type_hints(total),
    )


def _confidence(best: int, total: int) -> float:
    if total == 0:
        return 0.0
    return round(best / total * min(1.0, total / _FULL_EVIDENCE), 3)


def _choose(counts: dict[str, int], default: str) -> Convention:
    """Pick the value with the most evidence; without any, the default at confidence 0."""
    total = sum(counts.values())
    if total == 0:
        return Convention(default, 0.0, "default", dict(counts))
    value = max(counts, key=lambda k: counts[k])
    return Convention(value, _confidence(counts[value], total), "measured", dict(counts))


def _naming(total: Counter[str], prefix: str, default: str) -> Convention:
    chosen = _choose({"snake_case": total[f"{prefix}_snake"],
                      "camelCase": total[f"{prefix}_camel"]}, default)
    evidence = {**chosen.evidence, "single_word_or_other": total[f"{prefix}_other"]}
    return Convention(chosen.value, chosen.confidence, chosen.source, evidence)


def _error_handling(total: Counter[str]) -> Convention:
    exceptions = total["raises"] + total["excepts"]
    codes = total["sentinel_returns"] + 2 * total["code_returns"] + total["code_checks"]
    chosen = _choose({"exceptions": exceptions, "return_codes": codes}, "exceptions")
    evidence = {key: total[key] for key in ("raises", "excepts", "sentinel_returns",
                                            "code_returns", "code_checks")}
    return Convention(chosen.value, chosen.confidence, chosen.source, evidence)


def _concurrency(total: Counter[str]) -> Convention:
    asyncio = total["async_defs"] + total["awaits"] + total["asyncio_uses"]
    # One thread start is as telling as a handful of awaits.
    threads = 3 * total["thread_uses"]
    evidence = {key: total[key] for key in ("async_defs", "awaits", "asyncio_uses",
                                            "thread_uses")}
    if asyncio + threads == 0:
        return Convention("none", 0.5, "measured", evidence)
    chosen = _choose({"asyncio": asyncio, "threads": threads}, "none")
    return Convention(chosen.value, chosen.confidence, chosen.source, evidence)


def _line_length(total: Counter[str]) -> Convention:
    lines = total["lines_total"]
    histogram = {int(k[4:]): v for k, v in total.items() if k.startswith("len_")}
    longest = max(histogram, default=0)
    evidence: dict[str, int | float] = {"lines": lines, "longest": longest}
    if lines == 0:
        return Convention("88", 0.0, "default", evidence)
    for limit in _STANDARD_LENGTHS:
        over = sum(count for length, count in histogram.items() if length > limit)
        if over <= lines * _TOLERATED_OVER:
            evidence["over_limit"] = over
            return Convention(str(limit), _confidence(lines - over, lines), "measured", evidence)
    return Convention(str(longest), 0.3, "measured", evidence)


def _docstrings(total: Counter[str]) -> Convention:
    structured = {name: total[f"doc_{key}"] for name, key in (
        ("google", "google"), ("numpy", "numpy"), ("sphinx", "rest"), ("epytext", "epytext"))}
    documented = sum(structured.values()) + total["doc_plain"]
    evidence: dict[str, int | float] = {**structured, "plain": total["doc_plain"],
                                        "missing": total["doc_missing"]}
    if documented == 0:
        return Convention("none", _confidence(total["doc_missing"], total["functions"]),
                          "measured", evidence)
    best = max(structured, key=lambda k: structured[k])
    if structured[best] * 10 >= documented:
        return Convention(best, _confidence(structured[best], sum(structured.values())),
                          "measured", evidence)
    return Convention("plain", _confidence(total["doc_plain"], documented), "measured", evidence)


def _type_hints(total: Counter[str]) -> Convention:
    functions = total["functions"]
    evidence: dict[str, int | float] = {"functions": functions,
                                        "annotated": total["annotated"],
                                        "fully_annotated": total["fully_annotated"]}
    if functions == 0:
        return Convention("none", 0.0, "default", evidence)
    share = total["annotated"] / functions
    if share >= 0.6:
        value, support = "typed", total["annotated"]
    elif share <= 0.2:
        value, support = "untyped", functions - total["annotated"]
    else:
        value, support = "partial", functions // 2
    return Convention(value, _confidence(support, functions), "measured", evidence)


def read_style_config(root: Path) -> dict[str, Convention]:
    """Read quote style and line length from ruff, black, flake8 or pycodestyle settings."""
    found: dict[str, Convention] = {}
    pyproject = _toml(root, "pyproject.toml")
    tool = pyproject.get("tool", {}) if isinstance(pyproject.get("tool"), dict) else {}
    for name, ruff in (("ruff.toml", _toml(root, "ruff.toml")),
                       (".ruff.toml", _toml(root, ".ruff.toml")),
                       ("pyproject.toml [tool.ruff]", tool.get("ruff"))):
        if isinstance(ruff, dict) and ruff:
            _ruff(ruff, name, found)
    black = tool.get("black")
    if isinstance(black, dict):
        source = "pyproject.toml [tool.black]"
        length = black.get("line-length", 88)
        if isinstance(length, int):
            found.setdefault("line_length", Convention(str(length), 1.0, source))
        if not black.get("skip-string-normalization"):
            found.setdefault("quote_style", Convention("double", 1.0, source))
    for name in ("setup.cfg", "tox.ini", ".flake8"):
        _ini(root, name, found)
    return found


def _ruff(ruff: dict[str, Any], source: str, found: dict[str, Convention]) -> None:
    lint = ruff.get("lint") if isinstance(ruff.get("lint"), dict) else {}
    length = ruff.get("line-length") or _get(lint, "pycodestyle", "max-line-length")
    if isinstance(length, int):
        found.setdefault("line_length", Convention(str(length), 1.0, source))
    quote = _get(ruff, "format", "quote-style") or _get(lint, "flake8-quotes", "inline-quotes") \
        or _get(ruff, "flake8-quotes", "inline-quotes")
    if quote in ("single", "double"):
        found.setdefault("quote_style", Convention(str(quote), 1.0, source))


def _get(table: Any, section: str, key: str) -> Any:
    inner = table.get(section) if isinstance(table, dict) else None
    return inner.get(key) if isinstance(inner, dict) else None


def _ini(root: Path, name: str, found: dict[str, Convention]) -> None:
    text = _text(root, name)
    if text is None:
        return
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return  # a broken tool config is the tools' concern; fall back to measuring
    for section in ("flake8", "pycodestyle", "pep8"):
        if not parser.has_section(section):
            continue
        length = parser.get(section, "max-line-length", fallback="").strip()
        if length.isdigit():
            found.setdefault("line_length", Convention(length, 1.0, f"{name} [{section}]"))
        quote = parser.get(section, "inline-quotes", fallback="").strip().strip("'\"") or (
            parser.get(section, "inline-quotes", fallback="").strip())
        value = {"'": "single", '"': "double", "single": "single", "double": "double"}.get(quote)
        if value is not None:
            found.setdefault("quote_style", Convention(value, 1.0, f"{name} [{section}]"))


def _text(root: Path, name: str) -> str | None:
    try:
        data = read_source(root, name)
    except OSError:
        return None
    if len(data) > _MAX_CONFIG_BYTES:
        return None
    return data.decode("utf-8", "replace")


def _toml(root: Path, name: str) -> dict[str, Any]:
    text = _text(root, name)
    if text is None:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}
