"""result.json and failed.json: their one typed definition, and run directories that are
never overwritten and never half-written.

The runner builds a `ResultRecord`; the reports and the sweep read every result.json
through `ResultRecord.from_json`, which upgrades records of older schemas and keeps (and
names) fields it does not know. `edgebench schema` prints the JSON Schemas. A run writes into a
hidden staging directory; only a finished run is renamed to its final, unique name, so
a directory that looks complete always is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import Field, model_serializer

from harness.core.board import THROTTLED
from harness.core.record_parts import (
    Audit,
    BackendSettings,
    BatchChoice,
    CalibrationInfo,
    Costs,
    DatasetInfo,
    Energy,
    ExecutedIsa,
    FileRef,
    LoadgenSettings,
    MachineLoad,
    Metrics,
    ModelSourceRecord,
    Part,
    Provenance,
    Quantization,
    Shortcut,
    SweepPlace,
    SystemFacts,
    UnsupportedReason,
)
from harness.core.system_info import default_device_name

# What names a cell of a study, in this order: in run folder names, matrices, sweeps,
# failed cells and reports alike.
CELL_KEYS = ("model", "backend", "precision", "scenario", "mode")


def cell_of(thing: object) -> tuple[str, ...]:
    """The cell of a record, a config or a dict: its CELL_KEYS values."""
    if isinstance(thing, dict):
        return tuple(str(thing.get(key)) for key in CELL_KEYS)
    return tuple(str(getattr(thing, key)) for key in CELL_KEYS)


RESULT_FILE = "result.json"
FAILED_FILE = "failed.json"  # a sweep's cell that crashed, hung or was refused
STAGING_PREFIX = ".partial-"
# 1: before the typed record (no schema_version); 2: device, batch_size, predictions_file
SCHEMA_VERSION = 2


class ResultRecord(Part):
    """One run, measured or recorded as unsupported. Units are in the names."""

    # -- what was asked: the configuration (see `configuration`)
    model: str
    backend: str
    precision: str
    scenario: str
    mode: str
    device: str  # --device-name; default hostname plus board or CPU model
    quick: bool
    threads: int
    # samples per batch: 1 SingleStream, LoadGen's MultiStream query, Offline's batch size
    batch_size: int | None
    weights: str  # an id: "torchvision", "random:0", "file:<sha256>", "embedded:<digest>"
    weights_pretrained: bool
    dataset: DatasetInfo
    samples: int
    backend_version: str | None
    edgebench_version: str
    started_at: str
    system: SystemFacts
    model_source: ModelSourceRecord | None = None  # a user's model; None: the zoo's
    # -- what happened
    max_batch: int | None = None  # Offline's batch size ("auto" resolved)
    batch_choice: BatchChoice | None = None
    calibration: CalibrationInfo | None = None
    unsupported: UnsupportedReason | None = None  # the precision cannot run here
    precision_executed: str | None = None  # read back from the runtime
    executed: dict[str, Any] | None = None  # the runtime's own operator counts
    executed_isa: ExecutedIsa | None = None  # the instruction set its kernels ran on
    quantization: Quantization | None = None
    valid: bool | None = None  # LoadGen's verdict; None for accuracy runs
    loadgen_verdict: str | None = None
    metrics: Metrics = Field(default_factory=Metrics)
    latencies_file: FileRef | None = None
    predictions_file: FileRef | None = None  # accuracy: per-sample predicted, label
    loadgen_version: str | None = None
    loadgen_settings: LoadgenSettings | None = None
    full_measurement: bool = False  # MLPerf's minimum duration and query count met
    backend_settings: BackendSettings | None = None
    artifact: str | None = None
    artifact_size_bytes: int | None = None
    artifact_provenance: Provenance | None = None  # --artifacts: the prepared folder's record
    costs: Costs = Field(default_factory=Costs)
    emulated: bool = False
    warnings: list[str] = []
    # what this run did short of the full method to save time, each flagged in reports
    shortcuts: list[Shortcut] = []
    # what else the machine did while LoadGen measured; `noisy` flags it in every report
    machine_load: MachineLoad | None = None
    # joules over LoadGen's run, from the machine's own counters or the user's meter; where
    # none can be read, why (`unsupported`); None: not measured (an unsupported precision)
    energy: Energy | None = None
    audit: Audit | None = None  # --mode TEST01/TEST04: the audit.config LoadGen read
    duration_s: float | None = None
    # the run's configuration as asked (RunConfig.identity(): every setting that makes two
    # runs the same measurement, defaults included), for provenance
    configuration: dict[str, str] | None = None
    sweep_tag: str | None = None  # the sweep's tag for this run (finds it again on resume)
    sweep: SweepPlace | None = None
    schema_version: int = SCHEMA_VERSION

    @model_serializer(mode="wrap")
    def _every_field(self, handler):
        return handler(self)  # the record itself writes every field, null or not

    @classmethod
    def from_json(cls, data: dict) -> tuple[ResultRecord, list[str]]:
        """The record, upgraded to this schema, and (for a record of an older schema) the
        names of fields it lacked that took their defaults. A field this edgebench does
        not know is kept (`unknown_fields()` names it). Raises ValueError (pydantic's
        ValidationError) if it is not a result record."""
        if not isinstance(data, dict):
            raise ValueError(f"a result record is a JSON object, not {type(data).__name__}")
        old = data.get("schema_version", 1) < SCHEMA_VERSION
        upgraded = _upgrade(dict(data)) if old else dict(data)
        missing = [name for name in cls.model_fields if name not in data] if old else []
        upgraded["schema_version"] = SCHEMA_VERSION
        record = cls.model_validate(upgraded)
        return record, [name for name in missing if name != "schema_version"]

    @classmethod
    def read(cls, path: Path) -> tuple[ResultRecord, list[str]]:
        return cls.from_json(json.loads(path.read_text()))

    @property
    def run_length(self) -> str:
        if self.quick:
            return "quick"
        return "full" if self.full_measurement or self.mode == "accuracy" else "short"

    @property
    def batch(self) -> str | None:
        """The batch as configured: 'auto' when Offline chose its own (which it chose
        is `batch_size`), so two auto runs compare each at its best."""
        if self.batch_choice:
            return "auto"
        return None if self.batch_size is None else str(self.batch_size)

    @property
    def dataset_id(self) -> str:
        """Which samples: the name, the count and a digest of the files when known."""
        digest = self.dataset.files_digest
        return f"{self.dataset.name}:{self.samples}" + (f":{digest[:12]}" if digest else "")

    @property
    def dataset_source(self) -> str:
        """The list the samples are the first `samples` of: two runs from one source
        share their first min(samples) images (a quick accuracy run may score fewer)."""
        return f"{self.dataset.name}:{self.dataset.path}:" \
               f"{self.dataset.excluded_for_calibration}"

    @property
    def throttled(self) -> bool:
        return any(w.startswith(THROTTLED) for w in self.warnings)


TAIL_LINES = 50  # of a failed child's output, kept in its failed.json


class FailedCell(Part):
    """failed.json: a sweep's cell that crashed, hung, timed out or was refused."""

    cell: dict[str, Any]  # the `edgebench run` options of the cell
    repeat: int | None = None
    failed_at: str | None = None  # older files: unknown
    edgebench_version: str | None = None
    reason: str
    exit_code: int | None = None
    signal: str | None = None
    timed_out: bool = False
    elapsed_s: float | None = None
    last_50_lines: list[str] = []  # the child's output's last TAIL_LINES lines

    @classmethod
    def read(cls, path: Path) -> FailedCell:
        return cls.model_validate(json.loads(path.read_text()))


def json_schemas() -> dict[str, dict]:
    """The JSON Schema of each file edgebench writes for a run."""
    return {RESULT_FILE: ResultRecord.model_json_schema(),
            FAILED_FILE: FailedCell.model_json_schema()}


def _upgrade(data: dict) -> dict:
    """A schema-1 record (no schema_version) as schema 2."""
    system = data["system"]
    data.setdefault("device", default_device_name(system))
    if "batch_size" not in data:
        samples_per_query = (data.get("loadgen_settings") or {}).get(
            "multi_stream_samples_per_query")
        data["batch_size"] = {"offline": data.get("max_batch"),
                              "multi-stream": samples_per_query or 8}.get(data["scenario"], 1)
    # before run lengths between quick and full, only quick runs were short
    data.setdefault("full_measurement", not data.get("quick"))
    data.setdefault("backend_version", None)
    data.setdefault("edgebench_version", "unknown")
    data.setdefault("threads", 0)
    data.setdefault("samples", 0)
    data.setdefault("dataset", {"name": "unknown"})
    data.setdefault("weights", "unknown")
    data.setdefault("weights_pretrained", False)
    data.setdefault("quick", False)
    data.setdefault("started_at", "")
    return data


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


def write_record(run_dir: Path, record: ResultRecord) -> None:
    write_json_atomic(run_dir / RESULT_FILE, record.to_json())


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def run_name(fields: list[str], started: datetime) -> str:
    # a model given as a path is named by its file in a folder name
    return "_".join([started.strftime("%Y%m%dT%H%M%S")] + [f.rsplit("/", 1)[-1] for f in fields])


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
