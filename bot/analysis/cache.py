"""The on-disk index cache: per-file records keyed by content hash, with a stat fast path."""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.analysis.extract import RECORD_VERSION

# Records depend on our extractor and on the `ast` of the running Python.
_FORMAT = (RECORD_VERSION, sys.version_info[:2])

StatKey = tuple[int, int, int]  # size, mtime_ns, inode


@dataclass
class IndexCache:
    """Records of one codebase, loaded from and saved to one file in the cache folder."""

    path: Path | None
    stats: dict[str, tuple[StatKey, str]] = field(default_factory=dict)  # path -> (stat, hash)
    records: dict[str, Any] = field(default_factory=dict)  # record key -> record

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
        if not (isinstance(data, tuple) and len(data) == 3 and data[0] == _FORMAT
                and isinstance(data[1], dict) and isinstance(data[2], dict)):
            return cls(path)
        return cls(path, data[1], data[2])

    def known_hash(self, rel: str, key: StatKey) -> str | None:
        """Return the content hash recorded for a file whose stat has not changed."""
        entry = self.stats.get(rel)
        return entry[1] if entry is not None and entry[0] == key else None

    def save(self, stats: dict[str, tuple[StatKey, str]], records: dict[str, Any]) -> None:
        """Write the current files' records atomically, dropping entries no file uses."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        blob = marshal.dumps((_FORMAT, stats, records))
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
