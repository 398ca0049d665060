"""Build on the host, run on the board: a portable folder of the artifacts a matrix
needs (`edgebench prepare`), and their use where only the runtimes are installed
(`--artifacts DIR`).

The folder holds the artifact cache's own directories (each with its manifest: key
fields, tool versions, file digests), an index (`prepared.json`) that finds them by
model, runtime, precision, batch and weights without the converters' versions, and a
checksum list (`SHA256SUMS`). On the board an artifact whose files fail their digest,
or whose runtime version differs from the board's, is refused in one line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import harness
from harness.artifacts import MANIFEST, ArtifactCache, sha256_of
from harness.errors import Unsupported, UsageError
from harness.results import utc_now, write_json_atomic, write_text_atomic

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


def prepare(planned, out: Path) -> list[dict]:
    """Build every artifact the planned runs need into `out`; return the index entries.

    `planned` are the sweep's PlannedRun items (their RunConfig says what to build).
    """
    from backends import get_backend_class
    from backends.recipes import BuildContext, QuantOptions
    from harness.probe import OFFLINE_BATCH_CANDIDATES
    from harness.runner import resolve_calibration_of
    from harness.system_info import describe_system
    from harness.weights import resolve_weights
    from scenarios.settings import get_scenario

    cache = ArtifactCache(out)
    entries: dict[str, dict] = {}
    for run in planned:
        config = run.config
        backend_class = get_backend_class(config.backend)
        if backend_class.unsupported_reason(config.precision):
            continue
        scenario = get_scenario(config.scenario)
        sizes = [scenario.samples_per_query] if scenario.samples_per_query else (
            list(OFFLINE_BATCH_CANDIDATES) if config.max_batch == "auto" else [config.max_batch])
        precisions = [config.precision]
        if config.mode == "accuracy" and config.precision != "fp32":
            precisions.append("fp32")  # the fidelity reference runs on the board too
        weights = resolve_weights(config.weights, config.model)
        calibration = resolve_calibration_of(config, cache)
        context = BuildContext(config.model, weights, cache, calibration=calibration,
                               options=QuantOptions(config.quant_format,
                                                    config.calibration_method))
        for precision in precisions:
            recipe = backend_class.recipe(precision)
            if recipe.build is None:
                continue  # built in memory from the weights on the board
            for size in sizes if recipe.per_batch_size else sizes[:1]:
                backend = backend_class(1, scenario.hint, size)
                try:
                    path = backend.prepare(context, precision)
                except Unsupported as exc:  # asked to build it: not a verdict, an error
                    raise UsageError(f"cannot prepare {backend_class.name} {precision} on "
                                     f"this machine: {exc.reason}") from None
                label = recipe.label(backend_class.name, replace(context, batch_size=size))
                manifest = json.loads((path.parent / MANIFEST).read_text())
                uses_calibration = recipe.needs_calibration and calibration is not None
                entry = {
                    "label": label, "runtime": backend_class.name,
                    "runtime_version": backend_class.runtime_version(),
                    "weights": weights.id, "model": config.model, "precision": precision,
                    "batch_size": size if recipe.per_batch_size else None,
                    "calibration_digest": calibration.digest if uses_calibration else None,
                    "quant_options": asdict(context.options),
                    "dir": str(path.parent.relative_to(out)), "main": path.name,
                    "key": manifest["key"],
                    "files": {name: facts["sha256"] for name, facts in manifest["files"].items()},
                }
                entries[f"{entry['dir']}"] = entry
    index = {"edgebench_version": harness.__version__,
             "prepared_at": utc_now().isoformat(timespec="seconds"),
             "host": {k: v for k, v in describe_system().items() if k != "board_facts"},
             "artifacts": sorted(entries.values(), key=lambda e: e["dir"])}
    write_json_atomic(out / INDEX, index)
    write_text_atomic(out / CHECKSUMS, "".join(
        f"{sha}  {entry['dir']}/{name}\n" for entry in index["artifacts"]
        for name, sha in sorted(entry["files"].items())))
    return index["artifacts"]
