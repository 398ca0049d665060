"""Every digest edgebench takes, in one place: of a file, of a list of files, of a key's
fields, of the source code that built something."""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path


def sha256_of(path: Path) -> str:
    """The file's full sha256, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(files: list[Path]) -> str:
    """Of the files' names and bytes, in order: another file, or another order, is
    another digest."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        digest.update(bytes.fromhex(sha256_of(path)))
    return digest.hexdigest()[:16]


def fields_digest(fields: object) -> str:
    """Of JSON-able fields, whatever their order: a cache key, a run key."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def source_digest(*objects: object) -> str:
    """Digest of the source files defining `objects` (functions, classes, modules).

    Part of every artifact key, so that editing a converter or a model definition
    rebuilds the artifacts it made instead of serving stale ones.
    """
    digest = hashlib.sha256()
    for path in sorted({inspect.getfile(obj) for obj in objects}):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]
