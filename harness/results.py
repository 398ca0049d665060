"""Run directories and result.json: never overwritten, never half-written.

A run writes into a hidden staging directory; only a finished run is renamed to its
final, unique name, so a directory that looks complete always is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

RESULT_FILE = "result.json"
STAGING_PREFIX = ".partial-"


def write_text_atomic(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide results from other users
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def run_name(fields: list[str], started: datetime) -> str:
    return "_".join([started.strftime("%Y%m%dT%H%M%S")] + fields)


def make_staging_dir(results_root: Path, name: str) -> Path:
    results_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{name}-", dir=results_root))


def finalize(staging: Path, name: str) -> Path:
    """Move the staging directory to a name no earlier run has; return the final path."""
    for attempt in range(1000):
        final = staging.parent / (name if attempt == 0 else f"{name}-{attempt + 1}")
        try:
            # mkdir is the atomic claim; rename onto an empty directory then succeeds.
            final.mkdir()
        except FileExistsError:
            continue
        staging.chmod(0o755)
        os.replace(staging, final)
        return final
    raise RuntimeError(f"no free result directory name for {name} in {staging.parent}")


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
