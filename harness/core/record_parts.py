"""The parts of a result record, typed all the way down.

pydantic, because it is the well-kept library that does all three things a record needs:
it checks a record as it is read (a malformed file is an error naming the field, not a
KeyError three modules later), it keeps a field it does not know (reported, never
dropped), and it writes the JSON Schema `edgebench schema` prints.

Three parts stay open bags on purpose: `executed` (the runtime's own operator counts, in
its own vocabulary), and the runtime-specific keys of `quantization` and
`backend_settings` beside their common typed fields.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_serializer


class Part(BaseModel):
    """A typed part of a record. A key it does not know is kept and, unless the part is
    open by design (`OPEN`), reported by `unknown_fields`."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    OPEN: ClassVar[bool] = False

    @model_serializer(mode="wrap")
    def _without_unset_nones(self, handler):
        # A part writes the keys it was given: an Offline run's metrics have no
        # latency_ms key rather than "latency_ms": null.
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None or k in self.model_fields_set}

    def to_json(self) -> dict:
        return self.model_dump(mode="json")

    def unknown_fields(self, where: str = "") -> list[str]:
        """Dotted names of the keys this part (and the parts inside it) does not know."""
        found = [] if self.OPEN else [f"{where}{key}" for key in (self.model_extra or {})]
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Part):
                found += value.unknown_fields(f"{where}{name}.")
        return found


class Percentiles(Part):
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None


class LatencyMs(Percentiles):
    """Query latencies; the early-stopping estimates are MLPerf's headlines."""

    p90_early_stopping: float | None = None
    p99_early_stopping: float | None = None


class FidelityReference(Part):
    kind: str
    backend: str
    precision: str
    artifact: str | None = None


class Fidelity(Part):
    """A quantized run's logits against the reference precision's, same samples."""

    agreement: float | None = None  # share of samples with the same top-1
    sqnr_db: float | None = None
    samples: int | None = None
    reference: FidelityReference | None = None


class Simulated(Part):
    """The same quantized artifact run as fake-quant in float, on the same samples: the
    accuracy simulation predicts, beside the one deployed (MQBench's question)."""

    top1: float | None = None
    top1_ci95: list[float] | None = None  # Wilson score interval
    gap_deployed_minus_simulated: float | None = None
    gap_p_value: float | None = None  # McNemar's exact test, same samples
    agreement_with_deployed: float | None = None  # share of samples: same predicted class
    samples: int | None = None
    how: str | None = None
    executed: str | None = None  # what the runtime reported for the simulated run
    unsupported: str | None = None  # why this runtime cannot simulate


class Accuracy(Part):
    top1: float | None = None
    top5: float | None = None
    count: int | None = None
    logged: int | None = None  # samples LoadGen logged an answer for
    fidelity: Fidelity | None = None
    simulated: Simulated | None = None


class OperatorTime(Part):
    """One operator of a profile: the runtime's name and type, the kernel it chose, the
    source model's layer it belongs to and that layer's class (`harness.core.
    layer_classes`), and its mean time per inference."""

    name: str
    type: str
    kernel: str | None = None  # OpenVINO's exec_type, ONNX Runtime's provider and type
    precision: str | None = None  # what the kernel computed in, as the runtime says it
    layer: str | None = None  # the PyTorch module path (or the ONNX node) it came from
    layer_class: str
    time_ms: float  # per inference (one batch), the mean over the profiled inferences


class Profile(Part):
    """A per-operator profile of the steady state, from the runtime's own profiler, taken
    after LoadGen's run on the same loaded model (`--profile`)."""

    source: str  # which profiler, by its API's name
    inferences: int  # profiled inferences the times are the mean of
    batch_size: int
    operators_ms: float  # the operators' times of one inference, summed
    by_class_ms: dict[str, float]
    mapped_share: float  # of the profiled time, the share placed in a layer class
    # operators_ms over the measured latency of the same inferences (`latency_basis`)
    sum_over_latency: float
    latency_basis: str
    # operators_ms over LoadGen's latency of a batch in this run, profiler off: above
    # sum_over_latency by what the profiler adds inside the operators it times
    sum_over_loadgen_latency: float | None = None
    loadgen_latency_basis: str | None = None
    # one inference's wall time, unprofiled and profiled, timed alike in this process
    unprofiled_ms: float
    profiled_ms: float
    overhead: float  # profiled_ms / unprofiled_ms - 1
    operators: list[OperatorTime] = []
    notes: list[str] = []  # what the runtime's numbers mean where they differ


class Metrics(Part):
    query_count: int | None = None
    latency_ms: LatencyMs | None = None  # SingleStream, MultiStream
    # Offline: each sample's time from the start of its one query, not a query latency
    sample_latency_ms: Percentiles | None = None
    throughput_sps: float | None = None
    throughput_basis: str | None = None
    # no early-stopping estimate: why, in LoadGen's words ("Only processed 5 queries...")
    early_stopping_result: str | None = None
    accuracy: Accuracy | None = None  # accuracy mode
    profile: Profile | None = None  # performance mode with --profile


class Costs(Part):
    """What a deployment pays besides speed."""

    build_s: float | None = None
    load_s: float | None = None
    probe_s: float | None = None  # the short timing that sizes LoadGen's expected rate
    loadgen_s: float | None = None  # LoadGen's test, start to end
    first_inference_ms: float | None = None
    first_inference_batch: int | None = None
    peak_memory_scope: str | None = None
    vm_hwm_mb: float | None = None
    ru_maxrss_mb: float | None = None
    peak_rss_mb: float | None = None
    artifact_size_bytes: int | None = None


class Throttling(Part):
    source: str | None = None
    raw: str | None = None
    now: list[str] = []
    since_boot: list[str] = []


class BoardFacts(Part):
    soc_temperature_c: float | None = None
    cpu_frequency: dict[str, Any] | None = None  # governor and kHz, as the kernel reports
    throttling: Throttling | None = None


class SystemFacts(Part):
    emulation: str | None = None
    cpu: str | None = None
    board: str | None = None
    arch: str | None = None
    cores_physical: int | None = None
    cores_logical: int | None = None
    cores_usable: int | None = None
    cores_usable_basis: str | None = None
    isa_flags: list[str] = []
    amx: str | None = None  # listed AMX usable by this process, or why not; None: not listed
    memory_gb: float | None = None
    os: str | None = None
    python: str | None = None
    hostname: str | None = None
    board_facts: BoardFacts | None = None
    board_facts_end: BoardFacts | None = None


class DatasetInfo(Part):
    name: str = "unknown"
    samples: int | None = None
    labelled: bool | None = None
    seed: int | None = None  # synthetic
    path: str | None = None  # an image folder
    layout: str | None = None
    files_digest: str | None = None
    excluded_for_calibration: int | None = None


class CalibrationInfo(Part):
    source: str | None = None
    count: int
    digest: str
    synthetic: bool


class Quantization(Part):
    """How the artifact was quantized; a runtime adds keys of its own (open)."""

    OPEN: ClassVar[bool] = True
    # the quantizer that made it (`harness.core.quantizers`), for precisions with a choice
    quantizer: str | None = None
    tool: str | None = None
    format: str | None = None
    weights: str | None = None
    activations: str | None = None
    weight_symmetric: bool | None = None
    weight_granularity: str | None = None
    calibration_method: str | None = None
    options: dict[str, Any] | None = None  # the recipe options it was built with
    calibration_set: CalibrationInfo | None = None
    artifact_size_bytes: int | None = None


class BackendSettings(Part):
    """The runtime options that shaped the measurement; a runtime adds its own (open)."""

    OPEN: ClassVar[bool] = True
    threads_requested: int | None = None
    threads_read_back: int | str | None = None  # or why the runtime cannot say
    hint: str | None = None
    batch_size: int | None = None


class RunLengthRecord(Part):
    quick: bool = False
    duration_s: float | None = None
    min_queries: int | None = None
    max_duration_s: float | None = None
    user_conf: dict[str, str] | None = None  # path and sha256


class LoadgenSettings(Part):
    mlperf_conf_benchmark: str | None = None
    min_duration_ms: int | None = None
    max_duration_ms: int | None = None  # 0: no cap
    min_query_count: int | None = None
    performance_sample_count_override: int | None = None
    single_stream_expected_latency_ns: float | None = None
    multi_stream_expected_latency_ns: float | None = None
    offline_expected_qps: float | None = None
    multi_stream_samples_per_query: int | None = None
    full_measurement: bool = False
    run_length: RunLengthRecord | None = None


class BatchChoice(Part):
    """Offline --max-batch auto: the probe behind the choice."""

    asked: str = "auto"
    chosen: int
    probe_samples_per_s: dict[str, float] = {}
    candidates: list[int] = []
    method: str | None = None
    # "probed" in this run, "cache": an earlier run's probe, "model": the model fixes it
    source: str | None = None
    probed_at: str | None = None
    search_s: float | None = None  # the probe's time, when it ran


class MachineLoad(Part):
    """What else the machine did during the measured window (`harness.core.machine_load`)."""

    window_s: float | None = None
    steal_share: float | None = None  # of all CPUs' time: stolen by the hypervisor
    others_share: float | None = None  # of all CPUs' time: other processes
    own_cpu_s: float | None = None
    load_average_1m_start: float | None = None
    load_average_1m_end: float | None = None
    cpu_frequency_mhz_start: float | None = None
    cpu_frequency_mhz_end: float | None = None
    noisy: bool = False  # a share passed its threshold: flagged "noisy machine"
    thresholds: dict[str, float] = {}
    source: str | None = None


class ExecutedIsa(Part):
    """Which instruction set the compute kernels ran on, read back from the runtime
    (`Backend.executed_isa`), or why it cannot say."""

    counts: dict[str, int] = {}  # ISA class -> compute kernels (`harness.core.isa`)
    kernels: dict[str, int] = {}  # the runtime's own names for them -> count
    other_primitives: dict[str, int] = {}  # not compute (oneDNN's reorders, eltwise ops)
    source: str | None = None  # where it was read
    # library -> the widest ISA it says it dispatches to ("oneDNN": "Intel AVX2", "ATen": ...)
    library_isa: dict[str, str] = {}
    unsupported: str | None = None  # why the runtime cannot say


class EnergyDomain(Part):
    """One domain (a RAPL zone, a PMIC rail, a sensor, the user's meter) over the window."""

    joules: float
    # a counter's raw values as the source gave them (RAPL: microjoules), first and last
    counter_start: float | None = None
    counter_end: float | None = None
    counter_unit: str | None = None
    wraps: int = 0  # times the counter went past max_range and began again
    max_range: float | None = None  # where it wraps, in counter_unit
    mean_power_w: float | None = None  # a sampled power reading's average


class Energy(Part):
    """Energy over LoadGen's run, from the first source that can be read
    (`harness.core.energy`), or why none could. Never a zero or a guess."""

    source: str | None = None  # the energy source's registry name; None: unsupported
    unsupported: str | None = None  # why no figure: each source's own reason
    sources: dict[str, str] = {}  # every source tried: "used" or why it was not
    covers: str | None = None  # what the figure covers (a package is not a board)
    domains: dict[str, EnergyDomain] = {}
    summed: list[str] = []  # the domains added into `joules` (a core is inside a package)
    window: str | None = None  # which window: LoadGen's timed one, or its whole test call
    window_s: float | None = None
    joules: float | None = None
    idle_window_s: float | None = None  # measured just before the run, model loaded
    idle_power_w: float | None = None
    inferences: int | None = None  # samples answered in the window
    joules_per_inference: float | None = None
    joules_per_inference_above_idle: float | None = None
    sampling_hz: float | None = None  # readings per second actually taken
    samples: int | None = None
    method: str | None = None  # counter difference, or power integrated


class ModelSourceRecord(Part):
    """A user's model (`--model FILE|module:callable`): what it was and the card it ran
    with. None for a zoo model."""

    kind: str  # harness.core.model_source's kind: "onnx", "pytorch-program", ...
    file_name: str  # the file's name (never its path), or the callable
    sha256: str  # of the model's bytes, or of the callable's module
    card: dict[str, Any]  # as used: the file's inputs, the card's values, the defaults
    defaults: list[str]  # the card keys edgebench assumed (ImageNet defaults)
    # batch size -> input -> the shape fed at it (the run's batch and any it probed)
    inputs_fed: dict[str, dict[str, list[int | None]]] | None = None
    # an ONNX file run as onnx2torch's module (PyTorch, LiteRT): how it was proven to
    # agree with ONNX Runtime (harness.core.onnx_to_torch.ConversionProof)
    conversion: dict[str, Any] | None = None


class Shortcut(Part):
    """Something a run did short of the full method (a quick study's time savers), said
    in a flag for tables (`kind`) and in words (`detail`)."""

    kind: str  # "capped", "batch from cache", "fewer samples", "no fidelity"
    detail: str


class Audit(Part):
    """An audit (compliance) run: which test, and the audit.config LoadGen read from the
    run folder (a copy of the one at `audit_config`, which `sha256` pins)."""

    test: str
    what: str
    audit_config: str
    sha256: str


class FileRef(Part):
    path: str
    unit: str | None = None
    per: str | None = None  # "query" or "sample"
    arrays: list[str] | None = None


class UnsupportedReason(Part):
    reason: str


class SweepPlace(Part):
    """A repeated measurement's place: which sweep, which repeat of how many."""

    id: str
    repeat: int
    of: int
    target_ci_pct: float | None = None  # sweep --target-ci: repeated until this tight


class Provenance(Part):
    """An artifact built elsewhere (`edgebench prepare`): where, when, by what."""

    prepared_folder: str
    prepared_at: str
    prepared_on: dict[str, Any] = {}
    prepared_by: str | None = None
    runtime_version_at_prepare: str | None = None
    key: dict[str, Any] = {}
    files: dict[str, str] = {}
