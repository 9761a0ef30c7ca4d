"""Run a Python command under cProfile in the sandbox and write the top entries as JSON.

    python selfmod_profile.py OUT ROOT -m module args... | script args...
Only functions in files under ROOT are kept, with paths relative to it.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import runpy
import sys
from typing import Any

TOP = 200


def main(argv: list[str]) -> int:
    """Profile the command; return its exit code."""
    out, root, rest = argv[0], os.path.realpath(argv[1]), argv[2:]
    profiler = cProfile.Profile()
    code = 0
    if rest[:1] == ["-m"]:
        sys.argv = [rest[1], *rest[2:]]
        target, kind = rest[1], "module"
    else:
        sys.argv = list(rest)
        target, kind = rest[0], "path"
    sys.path.insert(0, os.getcwd() if kind == "module" else os.path.dirname(target))
    profiler.enable()
    try:
        if kind == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        profiler.disable()
        write_profile(profiler, out, root)
    return code


def write_profile(profiler: cProfile.Profile, out: str, root: str) -> None:
    """Write the profile's entries for files under root."""
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    entries = []
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in stats.items():
        if not filename or filename.startswith("<") or not os.path.isabs(filename):
            continue  # builtins ("~") and generated code
        real = os.path.realpath(filename)
        if not real.startswith(root + os.sep):
            continue
        entries.append({"path": os.path.relpath(real, root), "line": line, "name": name,
                        "calls": calls, "own_seconds": own, "cumulative_seconds": cumulative})
    entries.sort(key=lambda e: -e["cumulative_seconds"])
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(entries[:TOP], handle)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
