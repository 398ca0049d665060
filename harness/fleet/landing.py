"""Bringing a board's fetched results home: each run folder of a fetched archive is
unpacked aside, re-read (result.json or failed.json, typed), and moved into
`<results>/<device>/` in one rename. A folder already home is never replaced: the same
folder again is skipped, a different one is kept aside and named in a warning. The
sweep's manifest replaces the one home only when it has moved on."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.digests import files_digest
from harness.core.records import (
    FAILED_FILE,
    RESULT_FILE,
    FailedCell,
    ResultRecord,
    utc_now,
    write_text_atomic,
)


@dataclass
class Landed:
    new: list[str] = field(default_factory=list)
    already_home: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _folder_digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return files_digest(files) + ":" + ",".join(str(p.relative_to(folder)) for p in files)


def check_run(folder: Path, device: str) -> str | None:
    """Why a fetched run folder may not land (None: it may)."""
    try:
        if (folder / RESULT_FILE).is_file():
            record, _ = ResultRecord.read(folder / RESULT_FILE)
            if record.device != device:
                return f"its result says device {record.device!r}, not {device!r}"
        elif (folder / FAILED_FILE).is_file():
            FailedCell.read(folder / FAILED_FILE)
        else:
            return f"neither {RESULT_FILE} nor {FAILED_FILE} in it"
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        return f"unreadable: {str(exc).splitlines()[0]}"
    return None


def _progress(manifest: Path) -> tuple[int, str]:
    """How far a manifest has got: its finished runs, then its latest change."""
    try:
        runs = json.loads(manifest.read_text()).get("runs", {}).values()
    except (OSError, ValueError):
        return -1, ""
    finished = sum(run.get("state") in ("done", "failed") for run in runs)
    return finished, max((run.get("updated_at", "") for run in runs), default="")


def land(archive: Path, device_dir: Path, aside: Path, device: str,
         manifest_name: str) -> Landed:
    """Land the run folders of `archive` (fetched from the board of `device`)."""
    landed = Landed()
    unpacked = aside / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(unpacked, filter="data")  # no path leaves `unpacked`
    except (OSError, tarfile.TarError) as exc:
        landed.warnings.append(f"{device}: the fetched archive is unreadable ({exc}); "
                               "it is fetched again next time")
        return landed
    device_dir.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in unpacked.iterdir() if p.is_dir()):
        target = device_dir / folder.name
        if target.exists():
            if _folder_digest(target) == _folder_digest(folder):
                landed.already_home.append(folder.name)
            else:
                kept = aside / "conflicts" / f"{folder.name}.{utc_now():%Y%m%dT%H%M%S}"
                kept.parent.mkdir(parents=True, exist_ok=True)
                os.replace(folder, kept)
                landed.warnings.append(f"{device}: {folder.name} came again, different from "
                                       f"the copy already home, which stays; the new one "
                                       f"is in {kept}")
            continue
        if why := check_run(folder, device):
            landed.warnings.append(f"{device}: {folder.name} not brought home: {why}")
            continue
        os.replace(folder, target)  # same file system: one rename, never half a folder
        landed.new.append(folder.name)
    fetched_manifest = unpacked / manifest_name
    home_manifest = device_dir / manifest_name
    if fetched_manifest.is_file() and _progress(fetched_manifest) >= _progress(home_manifest):
        write_text_atomic(home_manifest, fetched_manifest.read_text())
    shutil.rmtree(unpacked, ignore_errors=True)
    return landed
