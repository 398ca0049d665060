"""`edgebench prepare`: build every artifact a matrix's cells need into a portable folder
(`harness.core.prepared` is its format and its use on the board)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import harness
from backends import get_backend_class
from backends.recipes import BuildContext, QuantOptions
from harness.core.artifacts import MANIFEST, ArtifactCache
from harness.core.errors import Unsupported, UsageError
from harness.core.prepared import CHECKSUMS, INDEX
from harness.core.records import utc_now, write_json_atomic, write_text_atomic
from harness.core.system_info import describe_system
from harness.core.weights import resolve_weights
from harness.measure.probe import OFFLINE_BATCH_CANDIDATES
from harness.measure.runner import resolve_calibration_of
from scenarios.settings import get_scenario


def prepare(planned, out: Path) -> list[dict]:
    """Build every artifact the planned runs need into `out`; return the index entries.

    `planned` are the sweep's PlannedRun items (their RunConfig says what to build).
    """

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
