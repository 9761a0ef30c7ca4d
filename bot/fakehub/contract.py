"""Check HTTP requests against GitHub's OpenAPI description (path, method, body fields).

The tests check every request the app makes in a session; `selfmod demo` checks its own run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The shared folder beside the checkout; an installed package may run without it.
SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "github" / "openapi-subset.json"
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,),
}
# Parameters whose values contain slashes in GitHub's own URLs (heads/main, a/b.py).
_SLASHED = {"ref", "path"}


@dataclass(frozen=True)
class Operation:
    """One documented (method, path template) and its request body schema."""

    method: str
    template: str
    pattern: re.Pattern[str]
    body: dict[str, Any] | None
    body_required: bool


def load_operations(path: Path = SPEC_PATH) -> list[Operation]:
    """Read every operation of the description."""
    spec = json.loads(path.read_text(encoding="utf-8"))
    operations = []
    for template, item in spec["paths"].items():
        regex = re.sub(r"\{(\w+)\}",
                       lambda m: "(.+)" if m.group(1) in _SLASHED else "([^/]+)", template)
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            body = op.get("requestBody")
            schema = body["content"].get("application/json", {}).get("schema") if body else None
            operations.append(Operation(method.upper(), template, re.compile(regex + "$"),
                                        schema, bool(body and body.get("required"))))
    # Literal segments first: /git/refs must not be read as /git/ref/{ref}.
    operations.sort(key=lambda op: op.template.count("{"))
    return operations


def check_request(operations: list[Operation], method: str, path: str, body: Any) -> list[str]:
    """Return what is wrong with a request, or nothing when the description allows it."""
    matches = [op for op in operations if op.pattern.match(path)]
    if not matches:
        return [f"{method} {path}: no such path in the description"]
    chosen = next((op for op in matches if op.method == method), None)
    if chosen is None:
        return [f"{method} {path}: method not allowed on {matches[0].template}"]
    where = f"{method} {chosen.template}"
    if chosen.body is None:
        return []
    if body is None:
        return [f"{where}: a request body is required"] if chosen.body_required else []
    return [f"{where}: {problem}" for problem in _check_value(chosen.body, body, "body")]


def _check_value(schema: dict[str, Any], value: Any, where: str) -> list[str]:
    if value is None:
        return [] if schema.get("nullable") else [f"{where} is null"]
    if "oneOf" in schema or "anyOf" in schema:
        options = schema.get("oneOf") or schema.get("anyOf") or []
        if any(not _check_value(option, value, where) for option in options):
            return []
        return [f"{where} matches none of the allowed shapes"]
    kind = schema.get("type")
    if kind in _TYPES and (not isinstance(value, _TYPES[kind])
                           or (kind in ("integer", "number") and isinstance(value, bool))):
        return [f"{where} should be {kind}, got {type(value).__name__}"]
    problems = []
    if kind == "object" and isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}.{name} is required")
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                problems += _check_value(sub, value[name], f"{where}.{name}")
    if kind == "array" and isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += _check_value(schema["items"], item, f"{where}[{index}]")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}={value!r} is not one of {schema['enum']}")
    return problems


@dataclass(frozen=True)
class ContractOutcome:
    """How the requests of one log fared against the description."""

    checked: int
    problems: tuple[str, ...]
    spec: Path | None

    @property
    def is_clean(self) -> bool:
        """Tell whether the description was found and every request fits it."""
        return self.spec is not None and not self.problems

    def describe(self) -> str:
        """Return one line saying what was checked and found."""
        if self.spec is None:
            return "contract check skipped: no openapi-subset.json (the shared folder) found"
        if not self.problems:
            return f"all {self.checked} requests fit GitHub's OpenAPI description"
        return (f"{len(self.problems)} problem(s) in {self.checked} requests: "
                + "; ".join(self.problems[:5]))


def check_contract(log: Path, spec: Path = SPEC_PATH) -> ContractOutcome:
    """Check a request log against the description, when the description is there."""
    if not spec.is_file():
        return ContractOutcome(0, (), None)
    checked = len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0
    return ContractOutcome(checked, tuple(check_log(log, load_operations(spec))), spec)


def check_log(log: Path, operations: list[Operation] | None = None) -> list[str]:
    """Check every request in a FAKEHUB_REQUEST_LOG file."""
    operations = operations or load_operations()
    if not log.exists():
        return []
    problems = []
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        problems += check_request(operations, entry["method"], entry["path"], entry["body"])
    return sorted(set(problems))
