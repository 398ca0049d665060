"""`edgebench prepare`: build every artifact a matrix's cells need into a portable folder
(`harness.core.prepared` is its format and its use on the board)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import harness
from harness.core.artifacts import MANIFEST, ArtifactCache
from harness.core.errors import Unsupported, UsageError
from harness.core.model_card import card_toml
from harness.core.prepared import CHECKSUMS, INDEX
from harness.core.records import utc_now, write_json_atomic, write_text_atomic
from harness.core.system_info import describe_system
from harness.core.user_models import CARD_SUFFIX
from harness.core.zoo import get_spec
from harness.measure.plan import RunPlan

MODELS_DIR = "models"


def prepare(planned, out: Path) -> list[dict]:
    """Build every artifact the planned runs need into `out`; return the index entries.

    `planned` are the sweep's PlannedRun items (their RunConfig says what to build); each
    run's `RunPlan` names the artifacts, as it does for `edgebench run`.
    """
    cache = ArtifactCache(out)
    entries: dict[str, dict] = {}
    models: dict[str, dict] = {}  # a user's model files, shipped beside the artifacts
    for run in planned:
        plan = RunPlan.of(run.config, cache)
        if plan.unsupported_reason:
            continue
        needs = plan.needs()
        for need in needs:
            recipe = plan.recipe(need.precision)
            if recipe.build is None:
                continue  # built in memory from the weights on the board
            if not recipe.per_batch_size and need.batch_size != needs[0].batch_size:
                continue  # one artifact serves every batch size
            try:
                backend, path, _ = plan.backend(need.precision, need.batch_size, threads=1)
            except Unsupported as exc:  # asked to build it: not a verdict, an error
                raise UsageError(f"cannot prepare {plan.backend_class.name} {need.precision} "
                                 f"on this machine: {exc.reason}") from None
            entry = _entry(plan, need.precision, need.batch_size, path, out)
            entries[entry["dir"]] = entry
        models.update(_ship_model(plan.config.model_name, out))
    index = {"edgebench_version": harness.__version__,
             "prepared_at": utc_now().isoformat(timespec="seconds"),
             "host": {k: v for k, v in describe_system().items() if k != "board_facts"},
             "artifacts": sorted(entries.values(), key=lambda e: e["dir"]),
             "models": sorted(models.values(), key=lambda m: m["name"])}
    write_json_atomic(out / INDEX, index)
    write_text_atomic(out / CHECKSUMS, "".join(
        f"{sha}  {entry['dir']}/{name}\n" for entry in index["artifacts"]
        for name, sha in sorted(entry["files"].items())))
    return index["artifacts"]


def _ship_model(model_name: str, out: Path) -> dict[str, dict]:
    """A user's model file (with its companions and its card, written in full) into
    `out/models/<name>/`: the board runs `--model` on it and finds the same artifacts
    (its name is the digest of its bytes and card). Nothing for a zoo model, or a
    callable (its module is the user's to install there)."""
    spec = get_spec(model_name)
    if spec.source is None or spec.source.path is None:
        return {}
    folder = out / MODELS_DIR / model_name
    folder.mkdir(parents=True, exist_ok=True)
    files = [spec.source.path, *spec.source.kind.companions(spec.source.path)]
    for path in files:
        shutil.copyfile(path, folder / path.name)
    card = folder / f"{spec.source.path.stem}{CARD_SUFFIX}"
    write_text_atomic(card, card_toml(spec.card))
    return {model_name: {"name": model_name, "model": str((folder / files[0].name)
                                                          .relative_to(out)),
                         "sha256": spec.source.digest}}


def _entry(plan: RunPlan, precision: str, batch_size: int, path: Path, out: Path) -> dict:
    """The index entry that finds one built artifact again on the board."""
    recipe = plan.recipe(precision)
    label = recipe.label(plan.backend_class.name, replace(plan.context, batch_size=batch_size))
    manifest = json.loads((path.parent / MANIFEST).read_text())
    uses_calibration = recipe.needs_calibration and plan.calibration is not None
    return {
        "label": label, "runtime": plan.backend_class.name,
        "runtime_version": plan.backend_class.runtime_version(),
        "weights": plan.weights.id, "model": plan.config.model_name, "precision": precision,
        "batch_size": batch_size if recipe.per_batch_size else None,
        "calibration_digest": plan.calibration.digest if uses_calibration else None,
        "recipe_options": recipe.option_values(plan.context),
        "dir": str(path.parent.relative_to(out)), "main": path.name,
        "key": manifest["key"],
        "files": {name: facts["sha256"] for name, facts in manifest["files"].items()},
    }
