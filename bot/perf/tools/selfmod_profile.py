"""Run a Python command under a sampling profiler in the sandbox; write its entries as JSON.

    python selfmod_profile.py OUT ROOT -m module args... | script args...
Every INTERVAL seconds of CPU time (SIGPROF), the stack of the main thread is sampled: the top
frame gets own time, every distinct frame on the stack cumulative time. Unlike cProfile (or any
sys.setprofile/settrace hook, which puts CPython 3.11 in its slow tracing mode for every bytecode)
this costs a few per cent. Time spent in C code goes to the Python function that called it.
Only functions in files under ROOT are kept, with paths relative to it.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
from collections import Counter
from types import FrameType
from typing import Any

TOP = 200
INTERVAL = 0.002

Key = tuple[str, int, str]


class Sampler:
    """Count, per function, the samples where it ran (own) or was on the stack (cumulative)."""

    def __init__(self) -> None:
        self.own: Counter[Key] = Counter()
        self.cumulative: Counter[Key] = Counter()

    def sample(self, signum: int, frame: FrameType | None) -> None:
        """The SIGPROF handler: walk the interrupted stack."""
        seen: set[Key] = set()
        current = frame
        while current is not None:
            code = current.f_code
            key = (code.co_filename, code.co_firstlineno, code.co_name)
            if not seen:
                self.own[key] += 1
            if key not in seen:
                seen.add(key)
                self.cumulative[key] += 1
            current = current.f_back

    def start(self) -> None:
        """Start sampling on CPU time."""
        signal.signal(signal.SIGPROF, self.sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)

    def stop(self) -> None:
        """Stop sampling."""
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)


def main(argv: list[str]) -> int:
    """Profile the command; return its exit code."""
    out, root, rest = argv[0], os.path.realpath(argv[1]), argv[2:]
    sampler = Sampler()
    code = 0
    if rest[:1] == ["-m"]:
        sys.argv = [rest[1], *rest[2:]]
        target, kind = rest[1], "module"
    else:
        sys.argv = list(rest)
        target, kind = rest[0], "path"
    sys.path.insert(0, os.getcwd() if kind == "module" else os.path.dirname(target))
    sampler.start()
    try:
        if kind == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sampler.stop()
        write_profile(sampler, out, root)
    return code


def write_profile(sampler: Sampler, out: str, root: str) -> None:
    """Write the sampled entries for files under root (calls are not counted: 0)."""
    entries: list[dict[str, Any]] = []
    for (filename, line, name), hits in sampler.cumulative.items():
        if not filename or filename.startswith("<") or not os.path.isabs(filename):
            continue  # generated code
        real = os.path.realpath(filename)
        if not real.startswith(root + os.sep):
            continue
        entries.append({"path": os.path.relpath(real, root), "line": line, "name": name,
                        "calls": 0,
                        "own_seconds": sampler.own[(filename, line, name)] * INTERVAL,
                        "cumulative_seconds": hits * INTERVAL})
    entries.sort(key=lambda e: -e["cumulative_seconds"])
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(entries[:TOP], handle)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
