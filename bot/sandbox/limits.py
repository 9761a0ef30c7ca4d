"""Resource limits of one sandbox run, and parsing of sizes like 512m."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import SandboxError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": KIB, "m": MIB, "g": GIB}


@dataclass(frozen=True)
class SandboxLimits:
    """What one run may use; every field is enforced by the kernel or by the host's timer."""

    timeout: float = 600.0
    memory_bytes: int = 1 * GIB
    cpus: float = 1.0
    pids: int = 256
    tmp_bytes: int = 256 * MIB
    work_bytes: int = 1 * GIB
    output_bytes: int = 1 * MIB
    output_kill_bytes: int = 64 * MIB
    nofile: int = 4096

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise SandboxError("the sandbox timeout must be above 0 seconds")
        if self.memory_bytes < 16 * MIB:
            raise SandboxError("the sandbox memory limit must be at least 16m")
        if self.cpus <= 0 or self.pids < 8 or self.tmp_bytes < MIB or self.work_bytes < MIB:
            raise SandboxError("the sandbox cpus, pids, tmp or work limit is too small")
        if self.output_kill_bytes < self.output_bytes:
            raise SandboxError("the output kill limit must be at least the output cap")


def parse_size(text: str) -> int:
    """Return the bytes in a size such as 512m, 1g, 1.5G or 1048576; raise on anything else."""
    match = _SIZE.match(text)
    if not match:
        raise SandboxError(f"bad size {text!r}: use a number with k, m or g, e.g. 512m")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
