"""Content hashes: of a text (short ids and fingerprints) and of files and folders (lineage, caches)."""

from __future__ import annotations

import hashlib
from pathlib import Path

SHORT = 16  # hex digits of a short hash: 64 bits, no collision among the ids one project makes


def short_hash(text: str) -> str:
    """The first 16 hex digits of the text's sha256: an id that is stable across processes and machines.

    >>> short_hash("What is 2 + 2?")
    '38d46ad3618826cf'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:SHORT]


def hash_path(path: str | Path) -> str:
    """sha256 over a file, or over a folder's files (relative names and contents, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
