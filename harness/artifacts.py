"""Cache of converted models, keyed by everything that changes their bytes.

An artifact is built in a private staging directory and renamed into place only
when complete (``artifact.json`` is written last and lists every file with its
size), so a build killed half-way is never mistaken for a finished one, and a cached
artifact whose files no longer match is rebuilt instead of loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import ArtifactError
from harness.progress import say

log = logging.getLogger(__name__)

MANIFEST = "artifact.json"


def default_cache_dir() -> Path:
    if os.environ.get("EDGEBENCH_CACHE"):
        return Path(os.environ["EDGEBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgebench"


def cache_key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _is_complete(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        return all(
            (directory / name).stat().st_size == size for name, size in manifest["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


class ArtifactCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else default_cache_dir()

    def get_or_build(
        self, label: str, key_fields: dict, build: Callable[[Path], Path]
    ) -> Path:
        """Return the directory of the artifact described by `key_fields`.

        `build(staging_dir)` writes the artifact into `staging_dir` and returns the main
        file; it runs only on a cache miss. `label` makes the directory name readable.
        """
        directory = self.root / "artifacts" / f"{label}-{cache_key(key_fields)}"
        if _is_complete(directory):
            return directory
        if directory.exists():
            log.warning("cached artifact %s is incomplete or damaged; rebuilding it", directory)
            shutil.rmtree(directory, ignore_errors=True)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{label}-", dir=directory.parent))
        say(f"  converting {label} (first use; cached in {directory.parent})")
        started = time.monotonic()
        try:
            main_file = build(staging)
        except Exception as exc:
            failed = staging.with_name(staging.name.lstrip(".") + ".failed")
            staging.rename(failed)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise ArtifactError(
                f"building {label} failed: {message}; the partial artifact is in {failed} "
                "(not cached)"
            ) from exc
        except BaseException:  # Ctrl-C: leave nothing behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
        say(f"  converted in {time.monotonic() - started:.0f} s")
        files = {p.name: p.stat().st_size for p in staging.iterdir() if p.is_file()}
        manifest = {"key": key_fields, "main": main_file.name, "files": files}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            staging.rename(directory)
        except OSError:  # another process finished the same artifact first
            shutil.rmtree(staging, ignore_errors=True)
            if not _is_complete(directory):
                raise
        return directory

    @staticmethod
    def main_file(directory: Path) -> Path:
        return directory / json.loads((directory / MANIFEST).read_text())["main"]
