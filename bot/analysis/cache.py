"""The on-disk index cache: per-file records and link results, with a stat fast path.

One file per codebase. Its top level is small: every record and every linked module is a
marshalled blob of its own, so loading the cache costs little and a run decodes only the
blobs it needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bot.analysis.extract import RECORD_VERSION

# Bump when the layout of the linked parts or of the link state changes.
LINK_VERSION = 2
# Records depend on our extractor and on the `ast` of the running Python.
_FORMAT = (RECORD_VERSION, LINK_VERSION, sys.version_info[:2])

StatKey = tuple[int, int, int]  # size, mtime_ns, inode


@dataclass
class IndexCache:
    """Records of one codebase, loaded from and saved to one file in the cache folder."""

    path: Path | None
    stats: dict[str, tuple[StatKey, str]] = field(default_factory=dict)  # path -> (stat, hash)
    records: dict[str, bytes] = field(default_factory=dict)  # record key -> marshalled record
    links: dict[str, bytes] = field(default_factory=dict)  # record key -> linked parts
    state: tuple[bytes, ...] | None = None  # see bot.analysis.incremental

    @classmethod
    def open(cls, cache_dir: Path | None, codebase_key: str) -> IndexCache:
        """Load the cache of a codebase; a missing, stale or corrupt file gives an empty one."""
        if cache_dir is None:
            return cls(None)
        name = hashlib.sha256(codebase_key.encode()).hexdigest()[:24]
        path = cache_dir / f"{name}.index"
        try:
            data = marshal.loads(path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return cls(path)
        if not (isinstance(data, tuple) and len(data) == 5 and data[0] == _FORMAT
                and isinstance(data[1], dict) and isinstance(data[2], dict)
                and isinstance(data[3], dict) and isinstance(data[4], tuple | None)):
            return cls(path)
        return cls(path, data[1], data[2], data[3], data[4])

    def known_hash(self, rel: str, key: StatKey) -> str | None:
        """Return the content hash recorded for a file whose stat has not changed."""
        entry = self.stats.get(rel)
        return entry[1] if entry is not None and entry[0] == key else None

    def save(self, stats: dict[str, tuple[StatKey, str]], records: dict[str, bytes],
             links: dict[str, bytes], state: tuple[bytes, ...]) -> None:
        """Write the current files' records and links atomically (nothing else is kept)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blob = marshal.dumps((_FORMAT, stats, records, links, state))
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".index-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def content_hash(source: bytes) -> str:
    """Return the hash that identifies a file's content."""
    return hashlib.blake2b(source, digest_size=16).hexdigest()


def record_key(digest: str, module: str, is_package: bool) -> str:
    """Return the cache key of a record: the content and the name it is imported under."""
    return f"{digest}:{module}:{int(is_package)}"
