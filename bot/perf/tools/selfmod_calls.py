"""Call a function on recorded inputs in the sandbox: equivalence checks and micro-benchmarks.

    python selfmod_calls.py equiv SPEC OUT   (cwd: the candidate tree; originals from spec)
    python selfmod_calls.py micro SPEC OUT   (cwd: the tree to time)
Inputs are the pickles the tracer recorded; they are only ever unpickled here, in the sandbox.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import os
import pickle
import signal
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

_REPR = 300
_MAX_ITEMS = 10000
Call = tuple[tuple[Any, ...], dict[str, Any]]


class CallTimeout(BaseException):
    """A call ran past its time limit (a BaseException so the code under test cannot catch it)."""


def load_candidate(module: str, local: str) -> Callable[..., Any]:
    """Return the function `local` (a dotted path inside the module) as imported."""
    return resolve(vars(importlib.import_module(module)), local)


def load_original(module: str, local: str, source_path: str,
                  file_path: str) -> Callable[..., Any]:
    """Return the function from the original source, executed as a fresh copy of the module."""
    importlib.import_module(module)  # the package and its other modules, as they are
    is_package = os.path.basename(file_path) == "__init__.py"
    copy = types.ModuleType(module)
    copy.__file__ = os.path.abspath(file_path)
    copy.__package__ = module if is_package else module.rpartition(".")[0]
    with open(source_path, encoding="utf-8") as handle:
        source = handle.read()
    exec(compile(source, copy.__file__, "exec"), vars(copy))
    return resolve(vars(copy), local)


def resolve(namespace: Mapping[str, Any], local: str) -> Callable[..., Any]:
    """Return the plain function at a dotted path, without method binding or decorators."""
    obj: Any = None
    for part in local.split("."):
        obj = namespace[part]
        namespace = vars(obj) if isinstance(obj, type) else {}
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    func: Callable[..., Any] = inspect.unwrap(obj)
    return func


def decode(samples: list[str]) -> list[bytes]:
    """Return the raw pickles of the samples."""
    return [base64.b64decode(s) for s in samples]


def outcome(func: Callable[..., Any], blob: bytes, timeout: float) -> tuple[str, Any, Any]:
    """Call func on a fresh copy of the input; return (kind, value or exception type, args)."""
    args, kwargs = pickle.loads(blob)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        value = materialize(func(*args, **kwargs))
        return "return", value, (args, kwargs)
    except CallTimeout:
        raise
    except Exception as exc:
        return "raise", type(exc).__name__, (args, kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def materialize(value: Any) -> Any:
    """Turn a generator's output into a list, so two of them can be compared."""
    if isinstance(value, (types.GeneratorType, Iterator)) and not isinstance(
            value, (str, bytes, list, tuple, dict, set)):
        items = []
        for item in value:
            items.append(item)
            if len(items) >= _MAX_ITEMS:
                break
        return ("<iterator>", items)
    return value


def same(x: Any, y: Any, depth: int = 0) -> bool:
    """Tell whether two values are equal, also for objects without __eq__ and NaN."""
    if type(x).__qualname__ != type(y).__qualname__:
        return False
    try:
        if x is y or bool(x == y):
            return True
    except Exception:
        pass
    if isinstance(x, (list, tuple)) and len(x) == len(y) and depth < 20:
        return all(same(a, b, depth + 1) for a, b in zip(x, y, strict=True))
    if isinstance(x, dict) and list(x) == list(y) and depth < 20:
        return all(same(x[k], y[k], depth + 1) for k in x)
    if hasattr(x, "__dict__") and hasattr(y, "__dict__") and depth < 20:
        return same(vars(x), vars(y), depth + 1)
    try:
        return repr(x) == repr(y) and "0x" not in repr(x)
    except Exception:
        return False


def same_outcome(a: tuple[str, Any, Any], b: tuple[str, Any, Any]) -> bool:
    """Tell whether two calls returned (or raised) alike and left their arguments alike."""
    return a[0] == b[0] and same(a[1], b[1]) and same(a[2], b[2])


def show(value: Any) -> str:
    """Return a short repr."""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unrepresentable {type(exc).__name__}>"
    return text if len(text) <= _REPR else text[:_REPR] + "…"


def show_outcome(result: tuple[str, Any, Any]) -> str:
    """Return how a call ended, for the report."""
    kind, value, args = result
    ended = f"returned {show(value)}" if kind == "return" else f"raised {value}"
    return f"{ended}; arguments after the call {show(args)}"


def check_function(entry: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Compare original and changed function on every sample of one function."""
    module, local = entry["module"], entry["local"]
    report: dict[str, Any] = {"compared": 0, "nondeterministic": 0, "timeouts": 0,
                              "mismatch": None, "error": None}
    try:
        changed = load_candidate(module, local)
        original = load_original(module, local, entry["original_source"], entry["path"])
    except Exception as exc:
        report["error"] = f"cannot load {module}.{local}: {type(exc).__name__}: {show(exc)}"
        return report
    for blob in decode(entry["samples"]):
        try:
            first = outcome(original, blob, timeout)
            second = outcome(original, blob, timeout)
            if not same_outcome(first, second):
                report["nondeterministic"] += 1
                continue
            result = outcome(changed, blob, timeout)
        except CallTimeout:
            report["timeouts"] += 1
            continue
        report["compared"] += 1
        if not same_outcome(first, result):
            args, kwargs = pickle.loads(blob)
            report["mismatch"] = {"input": show_call(args, kwargs),
                                  "original": show_outcome(first),
                                  "changed": show_outcome(result)}
            break
    return report


def show_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Return a call's arguments as `(a, b, k=v)`."""
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def equiv(spec: dict[str, Any]) -> dict[str, Any]:
    """Check every function of the spec."""
    timeout = float(spec.get("call_timeout", 10.0))
    return {entry["key"]: check_function(entry, timeout) for entry in spec["functions"]}


def micro(spec: dict[str, Any]) -> dict[str, Any]:
    """Time `rounds` passes over the recorded inputs; only the calls are timed.

    CPU time, not wall time: on a shared machine, waiting for a core is noise, not cost.
    """
    func = load_candidate(spec["module"], spec["local"])
    blobs = decode(spec["samples"])
    rounds = int(spec["rounds"])
    elapsed = 0.0
    errors = calls = 0
    for _ in range(rounds):
        for blob in blobs:
            args, kwargs = pickle.loads(blob)  # a fresh copy: the call may mutate its input
            started = time.process_time()
            try:
                materialize(func(*args, **kwargs))
            except Exception:
                errors += 1
            elapsed += time.process_time() - started
            calls += 1
    return {"seconds": elapsed, "calls": calls, "errors": errors}


def _alarm(signum: int, frame: Any) -> None:
    raise CallTimeout()


def import_roots(spec: dict[str, Any]) -> list[str]:
    """Return the folders (relative, without "..") the spec's modules import from."""
    entries = spec.get("functions") or [spec]
    roots = {str(e.get("root") or "") for e in entries if isinstance(e, dict)}
    return sorted(r for r in roots if r and ".." not in r.split("/") and not r.startswith("/"))


def main(argv: list[str]) -> int:
    """Run one task and write its JSON."""
    task, spec_path, out = argv
    signal.signal(signal.SIGALRM, _alarm)
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    sys.path.insert(0, os.getcwd())
    for root in import_roots(spec):
        # A src/ layout: its packages import from there, as its installed form would.
        sys.path.insert(0, os.path.join(os.getcwd(), root))
    result = equiv(spec) if task == "equiv" else micro(spec)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
