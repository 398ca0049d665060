"""Build on the host, run on the board: the portable folder of artifacts that
`edgebench prepare` (`harness.study.prepare`) writes, opened where only the runtimes
are installed (`--artifacts DIR`).

The folder holds the artifact cache's own directories (each with its manifest: key
fields, tool versions, file digests), an index (`prepared.json`) that finds them by
model, runtime, precision, batch and weights without the converters' versions, and a
checksum list (`SHA256SUMS`). On the board an artifact whose files fail their digest,
or whose runtime version differs from the board's, is refused in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.core.digests import sha256_of
from harness.core.errors import UsageError

INDEX = "prepared.json"
CHECKSUMS = "SHA256SUMS"


@dataclass
class Located:
    path: Path
    provenance: dict


class PreparedArtifacts:
    """A prepared folder, opened on the board."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        try:
            self.index = json.loads((self.folder / INDEX).read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"--artifacts {folder}: no readable {INDEX} ({exc}); make the "
                             "folder with 'edgebench prepare MATRIX --out DIR' on the host"
                             ) from None

    def locate(self, runtime: str, runtime_version: str, label: str, weights_id: str,
               calibration_digest: str | None) -> Located:
        """The artifact `label` for these weights, checked; UsageError if absent or bad."""
        matches = [entry for entry in self.index["artifacts"]
                   if entry["label"] == label and entry["weights"] == weights_id
                   and (calibration_digest is None
                        or entry.get("calibration_digest") == calibration_digest)]
        if not matches:
            raise UsageError(f"{self.folder} has no {label} artifact for weights {weights_id}; "
                             "prepare it on the host with 'edgebench prepare MATRIX --out "
                             "DIR' for a matrix that has this cell")
        if len(matches) > 1:
            raise UsageError(f"{self.folder} has {len(matches)} {label} artifacts (different "
                             "calibration sets); pass --calibration to pick one")
        entry = matches[0]
        if entry["runtime"] == runtime and entry["runtime_version"] != runtime_version:
            raise UsageError(f"{label} in {self.folder} was prepared for {runtime} "
                             f"{entry['runtime_version']}, this machine has {runtime_version}; "
                             "install that version or prepare the folder again")
        directory = self.folder / entry["dir"]
        for name, expected in entry["files"].items():
            file = directory / name
            if not file.is_file() or sha256_of(file) != expected:
                raise UsageError(f"{label} in {self.folder}: {name} fails its checksum "
                                 f"({CHECKSUMS}); copy the folder again or prepare it again")
        provenance = {"prepared_folder": str(self.folder.resolve()),
                      "prepared_at": self.index["prepared_at"],
                      "prepared_on": self.index["host"],
                      "prepared_by": f"edgebench {self.index['edgebench_version']}",
                      "runtime_version_at_prepare": entry["runtime_version"],
                      "key": entry["key"], "files": entry["files"]}
        return Located(directory / entry["main"], provenance)
