"""Cache of converted models, keyed by everything that changes their bytes.

An artifact is built in a private staging directory and renamed into place only
when complete (``artifact.json`` is written last and lists every file with its
size), so a build killed half-way is never mistaken for a finished one, and a cached
artifact whose files no longer match is rebuilt instead of loaded.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.errors import ArtifactError, UsageError
from harness.progress import say

log = logging.getLogger(__name__)

MANIFEST = "artifact.json"
Loaded = TypeVar("Loaded")


def default_cache_dir() -> Path:
    if os.environ.get("EDGEBENCH_CACHE"):
        return Path(os.environ["EDGEBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgebench"


def cache_key(fields: dict) -> str:
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


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
        return self._get_or_build(label, key_fields, build)[0]

    def load(
        self,
        label: str,
        key_fields: dict,
        build: Callable[[Path], Path],
        load: Callable[[Path], Loaded],
    ) -> tuple[Path, Loaded]:
        """`get_or_build`, then `load(main_file)`; return the main file and what loaded.

        A cached artifact the runtime cannot load (damaged in place, same sizes) is
        rebuilt once rather than crashed on.
        """
        directory, built = self._get_or_build(label, key_fields, build)
        try:
            return self.main_file(directory), load(self.main_file(directory))
        except Exception as exc:
            if built:
                raise ArtifactError(
                    f"the runtime cannot load the {label} it just built: {_first_line(exc)}; "
                    f"the artifact is in {directory}"
                ) from exc
            say(f"  cached {label} cannot be loaded ({_first_line(exc)}); rebuilding it")
            shutil.rmtree(directory, ignore_errors=True)
        return self.load(label, key_fields, build, load)

    def _get_or_build(
        self, label: str, key_fields: dict, build: Callable[[Path], Path]
    ) -> tuple[Path, bool]:
        directory = self.root / "artifacts" / f"{label}-{cache_key(key_fields)}"
        if _is_complete(directory):
            return directory, False
        if directory.exists():
            log.warning("cached artifact %s is incomplete or damaged; rebuilding it", directory)
            shutil.rmtree(directory, ignore_errors=True)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{label}-", dir=directory.parent))
        say(f"  converting {label} (first use; cached in {directory.parent})")
        started = time.monotonic()
        try:
            main_file = build(staging)
        except UsageError:  # something for the user to fix, e.g. a missing converter
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except Exception as exc:
            failed = staging.with_name(staging.name.lstrip(".") + ".failed")
            staging.rename(failed)
            raise ArtifactError(
                f"building {label} failed: {_first_line(exc)}; the partial artifact is in "
                f"{failed} (not cached)"
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
        return directory, True

    @staticmethod
    def main_file(directory: Path) -> Path:
        return directory / json.loads((directory / MANIFEST).read_text())["main"]
