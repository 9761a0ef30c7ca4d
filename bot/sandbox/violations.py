"""Security violations a sandbox run attempted, judged from what the host can see.

Three sources, with what each can and cannot see:
- the container's filesystem diff (taken by the engine): any change outside the work volume and
  /tmp. The root is read-only, so this is a check that enforcement held; it sees every process.
- the in-image audit hook (sitecustomize): Python code's connects, name look-ups and writes
  outside the work copy and /tmp, including denied attempts. Python only, and code that starts
  Python with -I/-S, or deletes the log, escapes the log (not the sandbox).
- the command's stderr: the errors non-Python tools print when the network or a write is denied.
  A heuristic: a test suite that prints these messages on purpose is reported too.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ViolationKind(enum.StrEnum):
    """What a violation tried to do."""

    NETWORK = "network"
    WRITE_OUTSIDE = "write_outside_work_copy"


@dataclass(frozen=True)
class Violation:
    """One attempted escape, with where it was seen."""

    kind: ViolationKind
    source: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """Return the JSON shape."""
        return {"kind": self.kind.value, "source": self.source, "detail": self.detail}


# Paths Docker itself adds to a container's layer (mount points and the init binary).
_ENGINE_PATHS = ("/dev", "/proc", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
                 "/etc/mtab", "/usr/sbin/docker-init", "/.dockerenv")
_STDERR_PATTERNS: tuple[tuple[ViolationKind, re.Pattern[str]], ...] = (
    (ViolationKind.NETWORK, re.compile(
        r"Network is unreachable|Temporary failure in name resolution|"
        r"Name or service not known|Could not resolve host|No address associated with hostname")),
    (ViolationKind.WRITE_OUTSIDE, re.compile(r"Read-only file system")),
)
_MAX_PER_SOURCE = 20


def build_violations(*, diff: Sequence[Mapping[str, Any]], audit_log: str, stderr: str,
                     allowed_roots: Sequence[str]) -> list[Violation]:
    """Return the violations seen in a run's diff, audit log and stderr, without duplicates."""
    found = [*_from_diff(diff, allowed_roots), *_from_audit(audit_log), *_from_stderr(stderr)]
    return list(dict.fromkeys(found))


def _from_diff(diff: Sequence[Mapping[str, Any]], allowed_roots: Sequence[str]) -> list[Violation]:
    keep = (*allowed_roots, *_ENGINE_PATHS)
    out = []
    for change in diff:
        path = str(change.get("Path", ""))
        if any(path == root or path.startswith(root.rstrip("/") + "/") for root in keep):
            continue
        if change.get("Kind") == 0 and any(root.startswith(path.rstrip("/") + "/")
                                           for root in keep):
            continue  # a parent folder of a mount point, modified by the engine
        out.append(Violation(ViolationKind.WRITE_OUTSIDE, "container_diff", path))
    return out[:_MAX_PER_SOURCE]


def _from_audit(log: str) -> list[Violation]:
    kinds = {"network": ViolationKind.NETWORK, "write": ViolationKind.WRITE_OUTSIDE}
    out = []
    for line in log.splitlines():
        kind, _, detail = line.partition("\t")
        if kind in kinds:
            out.append(Violation(kinds[kind], "audit_hook", detail))
    return _first(out)


def _from_stderr(stderr: str) -> list[Violation]:
    out = []
    for line in stderr.splitlines():
        for kind, pattern in _STDERR_PATTERNS:
            if pattern.search(line):
                out.append(Violation(kind, "stderr", line.strip()[:300]))
    return _first(out)


def _first(items: Iterable[Violation]) -> list[Violation]:
    return list(dict.fromkeys(items))[:_MAX_PER_SOURCE]
