"""Cache of converted models, keyed by everything that changes their bytes.

An artifact is built in a private staging directory and renamed into place only
when complete (``artifact.json`` is written last and lists every file with its
size), so a build killed half-way is never mistaken for a finished one, and a cached
artifact whose files no longer match is rebuilt instead of loaded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.core.digests import fields_digest, sha256_of
from harness.core.errors import ArtifactError, EdgebenchError, Unsupported, UsageError
from harness.core.progress import quiet_build_output, say

log = logging.getLogger(__name__)

MANIFEST = "artifact.json"
BUILD_LOG = "build.log"  # the converter's own console output, kept beside the artifact
Loaded = TypeVar("Loaded")


def default_cache_dir() -> Path:
    if os.environ.get("EDGEBENCH_CACHE"):
        return Path(os.environ["EDGEBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgebench"


def cache_key(fields: dict) -> str:
    return fields_digest(fields)


def _first_line(exc: BaseException) -> str:
    """What a converter's exception says, in a line: its first line, or where that is
    only the place an assertion failed (OpenVINO's "Check 'false' failed at file:line"),
    its own summary of what failed."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return repr(exc)
    if lines[0].startswith("Check '") and len(lines) > 1:
        after = lines[lines.index("Summary:") + 1:] if "Summary:" in lines else lines[1:3]
        return " ".join(after)[:600]
    return lines[0]


def _manifest_files(directory: Path) -> dict[str, dict]:
    """name -> {"size", "sha256"}; a manifest written before digests were kept has
    sizes only, and its digests read as None."""
    files = json.loads((directory / MANIFEST).read_text())["files"]
    return {name: entry if isinstance(entry, dict) else {"size": entry, "sha256": None}
            for name, entry in files.items()}


def _is_complete(directory: Path) -> bool:
    """Every file is there at its recorded size (cheap: checked on every use)."""
    try:
        return all((directory / name).stat().st_size == entry["size"]
                   for name, entry in _manifest_files(directory).items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def is_intact(directory: Path) -> bool:
    """Every file's content matches the digest recorded when it was built (read in
    full: checked only when the runtime cannot load the artifact)."""
    try:
        return all(entry["sha256"] is not None
                   and sha256_of(directory / name) == entry["sha256"]
                   for name, entry in _manifest_files(directory).items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


class ArtifactCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else default_cache_dir()
        self.build_seconds = 0.0  # spent building in this process (outermost builds only)
        self._building = 0

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

        When the runtime cannot load a cached artifact, its content digest decides: a
        damaged file (same size, other bytes) is rebuilt once; an intact one is left in
        place and the runtime's message reported (out of memory is not corruption).
        """
        directory, built = self._get_or_build(label, key_fields, build)
        try:
            return self.main_file(directory), load(self.main_file(directory))
        except (Unsupported, EdgebenchError):  # the runtime's verdict (or our refusal of
            raise  # what it compiled), not a damaged file
        except Exception as exc:
            if built:
                raise ArtifactError(
                    f"the runtime cannot load the {label} it just built: {_first_line(exc)}; "
                    f"the artifact is in {directory}"
                ) from exc
            if is_intact(directory):
                raise ArtifactError(
                    f"the runtime cannot load {label} ({_first_line(exc)}); its files are "
                    f"intact (content digest checked), so it was left in {directory}"
                ) from exc
            say(f"  cached {label} is damaged (its content digest changed) and cannot be "
                f"loaded ({_first_line(exc)}); rebuilding it")
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
        say(f"  building {label} (first use; cached in {directory.parent})")
        started = time.monotonic()
        self._building += 1
        try:
            with quiet_build_output(staging / BUILD_LOG):
                main_file = build(staging)
        except (UsageError, Unsupported):  # for the user to fix, or not for this machine
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except Exception as exc:
            # nothing half-built stays in the cache; the converter's log is kept to read
            failed = self.root / "failed-builds" / f"{staging.name.lstrip('.')}.log"
            failed.parent.mkdir(parents=True, exist_ok=True)
            if (staging / BUILD_LOG).exists():
                (staging / BUILD_LOG).replace(failed)
            with open(failed, "a") as log_file:  # the converter's whole message, to read
                log_file.write(f"\n{type(exc).__name__}: {exc}\n")
            shutil.rmtree(staging, ignore_errors=True)
            kept = f"; the converter's log is {failed}" if failed.exists() else ""
            raise ArtifactError(
                f"building {label} failed: {_first_line(exc)} (nothing cached){kept}"
            ) from exc
        except BaseException:  # Ctrl-C: leave nothing behind
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            self._building -= 1
            if not self._building:
                self.build_seconds += time.monotonic() - started
        files = {p.name: {"size": p.stat().st_size, "sha256": sha256_of(p)}
                 for p in staging.iterdir() if p.is_file() and p.name != BUILD_LOG}
        manifest = {"key": key_fields, "main": main_file.name, "files": files,
                    "build_seconds": round(time.monotonic() - started, 1)}
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


def tool_version(package: str) -> str:
    """A converter's version for a result's `quantization` record. On a board running a
    prepared artifact the converter is absent: its version is in the artifact's key."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "(not installed here: see artifact_provenance.key)"
