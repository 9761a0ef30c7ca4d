"""A pytest plugin run in the sandbox: record the arguments of calls to chosen functions.

Loaded with `-p selfmod_trace`; reads the spec named by SELFMOD_TRACE_SPEC and writes the
samples (pickles, base64) as JSON where the spec says. A bounded sample: the first distinct
calls of each function up to `max_calls`, each at most `max_bytes` pickled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import sys
import threading
from types import CodeType, FrameType
from typing import Any

_SPEC_ENV = "SELFMOD_TRACE_SPEC"


class Recorder:
    """Match frames to targets by file and line, and keep pickled arguments."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.targets: list[dict[str, Any]] = list(spec["targets"])
        self.max_calls = int(spec.get("max_calls", 20))
        self.max_bytes = int(spec.get("max_bytes", 32768))
        self.total_bytes = int(spec.get("total_bytes", 393216))
        self.out = str(spec["out"])
        self.codes: dict[CodeType, str | None] = {}
        self.data: dict[str, dict[str, Any]] = {
            t["key"]: {"calls": 0, "samples": [], "unpicklable": 0, "digests": set()}
            for t in self.targets}
        self.used = 0

    def match(self, code: CodeType) -> str | None:
        """Return the target key of a code object, or None."""
        for target in self.targets:
            if (code.co_name == target["name"] and code.co_filename == target["file"]
                    and target["first"] <= code.co_firstlineno <= target["last"]):
                return str(target["key"])
        return None

    def trace(self, frame: FrameType, event: str, arg: Any) -> None:
        """The global trace function: look at call events only, never trace lines."""
        if event != "call":
            return None
        code = frame.f_code
        key = self.codes.get(code, "")
        if key == "":
            key = self.codes[code] = self.match(code)
        if key is not None:
            self.record(key, frame)
        return None

    def record(self, key: str, frame: FrameType) -> None:
        """Count the call and keep its arguments when there is room."""
        entry = self.data[key]
        entry["calls"] += 1
        if len(entry["samples"]) >= self.max_calls or self.used >= self.total_bytes:
            return
        try:
            blob = pickle.dumps(build_call(frame), protocol=4)
        except Exception:
            entry["unpicklable"] += 1
            return
        digest = hashlib.sha256(blob).hexdigest()
        if len(blob) > self.max_bytes or digest in entry["digests"]:
            return
        entry["digests"].add(digest)
        entry["samples"].append(base64.b64encode(blob).decode("ascii"))
        self.used += len(blob)

    def write(self) -> None:
        """Write the samples as JSON."""
        data = {key: {k: v for k, v in entry.items() if k != "digests"}
                for key, entry in self.data.items()}
        with open(self.out, "w", encoding="utf-8") as handle:
            json.dump(data, handle)


def build_call(frame: FrameType) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return the positional and keyword arguments a frame was called with."""
    code = frame.f_code
    local = frame.f_locals
    names = code.co_varnames
    count = code.co_argcount
    args = [local[name] for name in names[:count]]
    kwonly = names[count:count + code.co_kwonlyargcount]
    position = count + code.co_kwonlyargcount
    if code.co_flags & 0x04:  # CO_VARARGS
        args.extend(local[names[position]])
        position += 1
    kwargs = {name: local[name] for name in kwonly}
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        kwargs.update(local[names[position]])
    return tuple(args), kwargs


_RECORDER: list[Recorder] = []


def pytest_configure(config: Any) -> None:
    """Start recording when pytest starts."""
    path = os.environ.get(_SPEC_ENV)
    if not path:
        return
    with open(path, encoding="utf-8") as handle:
        recorder = Recorder(json.load(handle))
    _RECORDER.append(recorder)
    sys.settrace(recorder.trace)
    threading.settrace(recorder.trace)


def pytest_unconfigure(config: Any) -> None:
    """Stop recording and write the samples."""
    sys.settrace(None)
    threading.settrace(None)
    for recorder in _RECORDER:
        recorder.write()
