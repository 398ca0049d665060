"""A precision is a recipe in its runtime's folder (the way `optimum` lays out its
per-runtime quantizers): what it builds from, its cache key, its build, whether it
needs calibration data, and whether this machine can run it. The runner never names a
precision: adding one to a backend touches only that backend's folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from backends.options import resolve as resolve_recipe_options
from harness.core.errors import Unsupported

if TYPE_CHECKING:  # annotations only: importing `backends` stays free of torch
    from harness.core.artifacts import ArtifactCache
    from harness.core.calibration import CalibrationSet
    from harness.core.prepared import PreparedArtifacts
    from harness.core.weights import WeightsSource


@dataclass(frozen=True)
class BuildContext:
    """Everything a recipe may build from, resolved once by the runner."""

    model_name: str
    weights: WeightsSource
    cache: ArtifactCache
    batch_size: int = 1  # set by the backend that builds: static shapes need it
    calibration: CalibrationSet | None = None
    # every declared recipe option's value (`backends.options`); a recipe reads those it
    # lists in `Recipe.options`
    options: dict[str, object] = field(default_factory=lambda: resolve_recipe_options({}))
    # artifacts built elsewhere (`edgebench prepare`): looked up there, never built here
    prepared: PreparedArtifacts | None = None


@dataclass(frozen=True)
class Cost:
    """What a recipe costs on the project's 2-core x86 (AVX-512 VNNI and BF16), measured
    by `edgebench prepare study-quick` and a study-quick sweep (2026-11-30,
    benchmarks/time_to_answer.py): where `sweep --dry-run` starts before this device has
    measured anything itself (int8-dynamic's integer convolutions, fp16 emulated on a CPU
    without FP16 arithmetic: the slow paths)."""

    # time per sample at batch 1, relative to the model's reference FP32 time
    # (`ModelSpec.reference_fp32_ms`: ONNX Runtime FP32)
    time_vs_fp32: float = 1.0
    build_s: float = 0.0  # building the artifact: a fixed part ...
    build_s_per_fp32_ms: float = 0.0  # ... and one per ms of the model's FP32 time

    def build_seconds(self, fp32_ms: float) -> float:
        return self.build_s + self.build_s_per_fp32_ms * fp32_ms


def _no_reason() -> str | None:
    return None


# The model source kinds (`harness.core.model_source`) a recipe can start from. A PyTorch
# model reaches every runtime (ONNX export, litert-torch, eager); a model in a runtime's
# format reaches only the recipes that read that format.
FROM_PYTORCH = ("pytorch-program", "pytorch-callable")
# a PyTorch model through the ONNX export, or a user's ONNX file: as it is on ONNX Runtime
# and OpenVINO, as onnx2torch's proven module on PyTorch and LiteRT (onnx_to_torch)
FROM_ONNX = (*FROM_PYTORCH, "onnx")


@dataclass(frozen=True)
class Recipe:
    precision: str
    summary: str  # the toolchain and the format it makes, for `info` and the README
    # key fields and build of the artifact; build None: the runtime converts in memory
    key_fields: Callable[[BuildContext], dict] | None = None
    build: Callable[[BuildContext, Path], Path] | None = None
    needs_calibration: bool = False
    # why this machine cannot run it (the runtime's own words), or None
    unsupported_reason: Callable[[], str | None] = _no_reason
    # why this machine cannot build it, though it can run one built elsewhere (`edgebench
    # prepare`, then --artifacts), or None
    build_refusal: Callable[[], str | None] = _no_reason
    # what result.json records under `quantization` (types, symmetry, granularity, ...)
    quantization: Callable[[BuildContext], dict] | None = None
    per_batch_size: bool = False  # static shapes: one artifact per batch size
    artifact_runtime: str | None = None  # shared artifacts: "onnx" serves two runtimes
    # another precision's artifact, run differently (OpenVINO's bf16: the fp32 IR)
    artifact_precision: str | None = None
    # the recipe options (`backends.options`) this recipe reads: in its cache key and
    # in result.json's `quantization.options`
    options: tuple[str, ...] = ()
    # what the runtime reports as fp32 compute runs on weights stored otherwise (weights
    # compressed to int8 and decompressed as it runs): the adapter's read-back says so
    float_compute_note: str | None = None
    # what it costs on the project's machine: where a sweep's estimate starts
    cost: Cost = field(default_factory=lambda: Cost())
    # the model source kinds it builds from (see FROM_PYTORCH), and why not the others
    # where the general reason (no converter) is not it
    sources: tuple[str, ...] = FROM_PYTORCH
    sources_note: str | None = None
    # why this machine cannot run it for one source kind (a route of its own), or None
    unsupported_for: dict[str, Callable[[], str | None]] = field(default_factory=dict)
    # the quantizer (`harness.core.quantizers`) that makes it, when the precision has a
    # choice (`--quantizer`): this recipe is the runtime's default, `alternatives` hold the
    # recipes of its other quantizers for the same precision
    quantizer: str | None = None
    alternatives: dict[str, Recipe] = field(default_factory=dict)
    # the QDQ ONNX model the artifact was converted from (OpenVINO's IR of aimet-onnx's
    # model): where a runtime cannot simulate its own artifact, that model is simulated
    qdq_source: Callable[[BuildContext], Path] | None = None

    def for_quantizer(self, runtime: str, name: str | None) -> Recipe:
        """The recipe of quantizer `name` (None: the default) for this precision; itself
        for a precision made by no quantizer (the FP32 reference of a quantized run). One
        this runtime lacks is `Unsupported`, naming those it has."""
        if name is None or name == self.quantizer or self.quantizer is None:
            return self
        if name not in self.alternatives:
            raise Unsupported(f"{runtime} {self.precision} has no quantizer {name!r}; its "
                              f"quantizers: {', '.join(self.quantizer_names())} (the first "
                              "is its default)")
        return self.alternatives[name]

    def quantizer_names(self) -> tuple[str, ...]:
        return (self.quantizer, *self.alternatives) if self.quantizer else ()

    def reads(self, option: str) -> bool:
        """Whether this recipe's build reads the recipe option `option`."""
        return option in self.options or (option == "quantizer" and self.quantizer is not None)

    def source_refusal(self, runtime: str, source_kind: str) -> str | None:
        """Why a model of `source_kind` cannot reach this recipe, or None."""
        if source_kind in self.sources:
            return None
        from harness.core.model_source import SOURCE_KINDS

        def kind(name: str) -> str:
            return SOURCE_KINDS.get(name).description if name in SOURCE_KINDS else name

        why = self.sources_note or ("edgebench converts it to none of those (no converter "
                                    "whose output it has proven to agree)")
        return (f"{runtime} {self.precision} is made from {' or '.join(map(kind, self.sources))}; "
                f"the model is {kind(source_kind)}: {why}")

    def machine_refusal(self, source_kind: str) -> str | None:
        """Why this machine cannot run it for a model of `source_kind`, or None."""
        condition = self.unsupported_for.get(source_kind)
        return self.unsupported_reason() or (condition() if condition else None)

    def option_values(self, ctx: BuildContext) -> dict[str, object]:
        """The recipe options it was made with: those it reads, and its quantizer by name
        (the default's too)."""
        values = {name: ctx.options.get(name) for name in self.options}
        return {**values, "quantizer": self.quantizer} if self.quantizer else values

    def label(self, runtime: str, ctx: BuildContext) -> str:
        suffix = f"-b{ctx.batch_size}" if self.per_batch_size else ""
        precision = self.artifact_precision or self.precision
        made_by = f"-{self.quantizer}" if self.quantizer else ""
        return f"{ctx.model_name}-{self.artifact_runtime or runtime}-{precision}{made_by}{suffix}"

    def full_key(self, ctx: BuildContext) -> dict:
        fields = {**self.key_fields(ctx), "precision": self.artifact_precision or self.precision}
        if self.options or self.quantizer:
            fields["options"] = self.option_values(ctx)
        if self.per_batch_size:
            fields["batch_size"] = ctx.batch_size
        if self.needs_calibration:
            fields["calibration"] = ctx.calibration.key_fields()
        return fields

    def artifact(self, runtime: str, ctx: BuildContext) -> Path:
        """The built artifact's main file (built on first use, then cached)."""
        directory = ctx.cache.get_or_build(
            self.label(runtime, ctx), self.full_key(ctx), lambda staging: self.build(ctx, staging))
        return ctx.cache.main_file(directory)


def unsupported(reason: str) -> Callable[[], str]:
    return lambda: reason
