"""The interface every runtime adapter implements, and nothing more."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

import numpy as np

from backends.profiling import OperatorProfiler
from backends.recipes import BuildContext, Recipe
from harness.core.errors import ArtifactError, Unsupported, UsageError
from harness.core.model_card import feed_arrays
from harness.core.preprocess import to_layout
from harness.core.zoo import get_spec

# What the scenario optimises: one request's latency (SingleStream, MultiStream) or
# the rate of many (Offline). Runtimes with a tuning switch for it (OpenVINO's
# performance hint) use it; the others record it.
PerformanceHint = Literal["latency", "throughput"]
Tag = TypeVar("Tag")


@dataclass
class Executed:
    """What the runtime says it executed, read back after loading the model."""

    precision: str  # e.g. "int8", "fp32 compute, fp16 weights"
    detail: dict = field(default_factory=dict)  # per-op or per-tensor counts, as read


def named_inputs(batch: np.ndarray) -> dict[str, np.ndarray] | None:
    """A batch of structured records (a model with several or non-image inputs) as one
    array per input name, each laid out as the model takes it (`feed_arrays`); None for
    a batch of images."""
    return None if batch.dtype.names is None else feed_arrays(batch)


def float_compute(weights: str) -> str:
    """What ran where a float kernel computes on weights stored as `weights` ("int4"):
    the runtime dequantizes them first."""
    return f"fp32 compute, {weights} weights"


def compute_summary(ops_by_precision: Counter) -> str:
    """'int8' when every compute op runs in int8; 'int8 (52 ops), fp32 (1 op)' if mixed."""
    if not ops_by_precision:
        return "unknown (the runtime reported no compute ops)"
    if len(ops_by_precision) == 1:
        return next(iter(ops_by_precision))
    return ", ".join(f"{precision} ({count} op{'s' if count != 1 else ''})"
                     for precision, count in ops_by_precision.most_common())


class Backend(ABC):
    name: ClassVar[str]
    recipes: ClassVar[dict[str, Recipe]]  # precision -> how this runtime makes it
    input_layout: ClassVar[str] = "NCHW"  # the QSL lays samples out so, once, at load
    # model source kinds this runtime runs as given (a user's ONNX file on ONNX Runtime):
    # their samples are fed in the model's own layout, not `input_layout`
    native_sources: ClassVar[tuple[str, ...]] = ()

    def __init__(self, threads: int, hint: PerformanceHint = "latency", batch_size: int = 1):
        self.threads = threads
        self.hint = hint
        self.batch_size = batch_size  # what most queries will hold; static-shape runtimes use it
        self.precision = "fp32"
        self.context: BuildContext | None = None
        self.provenance: dict | None = None  # set when the artifact came prepared
        # seconds `load` spent compiling ahead of the first query (torch.compile): a cold
        # start, outside the Offline batch search's time budget
        self.compile_s = 0.0

    @classmethod
    def precisions(cls) -> tuple[str, ...]:
        return tuple(cls.recipes)

    @classmethod
    def recipe(cls, precision: str, options: dict | None = None) -> Recipe:
        """How this runtime makes `precision`: by the quantizer `options` choose, else its
        default (a quantizer it lacks raises `Unsupported`)."""
        try:
            recipe = cls.recipes[precision]
        except KeyError:
            raise UsageError(f"backend {cls.name} has no precision {precision!r}; it has: "
                             f"{', '.join(cls.recipes)}") from None
        return recipe.for_quantizer(cls.name, (options or {}).get("quantizer"))

    @classmethod
    def unsupported_reason(cls, precision: str, source_kind: str = "pytorch-callable",
                           options: dict | None = None) -> str | None:
        """Why this machine cannot run `precision` of a model made from `source_kind`
        (by the quantizer `options` choose), known before building anything."""
        try:
            recipe = cls.recipe(precision, options)
        except Unsupported as exc:
            return str(exc)
        return recipe.source_refusal(cls.name, source_kind) or recipe.machine_refusal(source_kind)

    @staticmethod
    def cannot_build_reason() -> str | None:
        """Why this machine can run only prepared artifacts (`--artifacts`), or None."""
        return None

    @staticmethod
    @abstractmethod
    def runtime_version() -> str:
        """Version of the runtime package that executes the model."""

    def prepare(self, ctx: BuildContext, precision: str) -> Path | None:
        """Build (or reuse from the cache) the artifact of `precision` and load it.

        Returns its path; None when the runtime executes the source model itself.
        Raises `Unsupported` when this machine cannot run the precision.
        """
        reason = self.unsupported_reason(precision, get_spec(ctx.model_name).source_kind,
                                         ctx.options)
        if reason:
            raise Unsupported(reason)
        recipe = self.recipe(precision, ctx.options)
        if ctx.prepared is None and recipe.build is not None and (why := recipe.build_refusal()):
            raise Unsupported(why)
        ctx = replace(ctx, batch_size=self.batch_size)  # static-shape artifacts are per batch
        self.precision, self.context = precision, ctx
        if recipe.build is None:
            self.load(None)
            return self.source_path(ctx)
        if ctx.prepared is not None:
            located = ctx.prepared.locate(
                self.name, self.runtime_version(), recipe.label(self.name, ctx), ctx.weights.id,
                ctx.calibration.digest if recipe.needs_calibration and ctx.calibration else None)
            self.load(located.path)
            self.provenance = located.provenance
            return located.path
        try:
            path, _ = ctx.cache.load(recipe.label(self.name, ctx), recipe.full_key(ctx),
                                     lambda staging: recipe.build(ctx, staging), self.load)
        except ArtifactError as exc:
            if get_spec(ctx.model_name).source is None:
                raise  # the zoo's models convert everywhere: a failure is ours to fix
            # a user's model that a runtime's tool refuses (an operator it lacks): a
            # verdict about this model on this runtime, in the tool's own words
            raise Unsupported(f"{self.name}'s toolchain refused the model: {exc}") from exc
        return path

    @abstractmethod
    def load(self, path: Path | None) -> object:
        """Open the artifact at `path` (None: build from the source model in memory) for
        `self.precision`; raise `Unsupported` if the runtime refuses that precision."""

    def source_path(self, ctx: BuildContext) -> Path | None:
        """What a run records as its artifact when the runtime converts in memory."""
        return None

    def to_input(self, chw: np.ndarray) -> np.ndarray:
        """One preprocessed (3, H, W) float32 sample as the model takes it (layout, and
        type: a model with an int8 input gets it quantized here, once, at load)."""
        if chw.dtype.names:  # a record of a model without one image input: as it is
            return chw
        return to_layout(chw, self.sample_layout)

    @property
    def sample_layout(self) -> str:
        """The layout the samples are fed in."""
        if self.context is not None:
            spec = get_spec(self.context.model_name)
            if spec.source_kind in self.native_sources:
                return spec.input.layout
        return self.input_layout

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Float logits, shape (N, classes), for a batch of `to_input` samples."""

    @abstractmethod
    def executed(self) -> Executed:
        """What the runtime reports it executes, read back from the loaded model."""

    # why this runtime cannot say which instruction set its kernels ran on; None: it can
    # (`executed_isa`)
    isa_unsupported: ClassVar[str | None] = "edgebench reads no kernel ISA from this runtime"

    def executed_isa(self, batch: np.ndarray) -> dict:
        """Which instruction set each compute kernel ran on, read back from the runtime
        (`batch`: one input to run where the runtime only says so while running): ISA
        class counts (`harness.core.isa`), the kernels' own names and where they were read;
        or, where the runtime cannot say, why, in words."""
        return {"unsupported": self.isa_unsupported}

    def quantization(self) -> dict | None:
        """The quantization that made the artifact, as result.json records it."""
        if self.context is None:
            return None
        recipe = self.made_by()
        if recipe.quantization is None:
            return None
        record = recipe.quantization(self.context)
        if recipe.quantizer:
            record = {"quantizer": recipe.quantizer, **record}
        if recipe.options or recipe.quantizer:
            record["options"] = recipe.option_values(self.context)
        if recipe.needs_calibration and self.context.calibration is not None:
            record["calibration_set"] = self.context.calibration.describe()
        return record

    def made_by(self) -> Recipe:
        """The recipe of the loaded precision, by the quantizer its context chose."""
        return self.recipe(self.precision, self.context.options if self.context else None)

    # why this runtime cannot run its quantized model as fake-quant in float (`simulation`)
    simulation_unsupported: ClassVar[str] = ("edgebench has no float simulation of this "
                                             "runtime's quantized models")

    # why this runtime gives edgebench no per-operator profile; None: `profiler` gives one
    profiling_unsupported: ClassVar[str | None] = ("edgebench reads no per-operator profile "
                                                   "from this runtime")

    def profiler(self) -> OperatorProfiler:
        """The loaded model again under the runtime's own profiler (`--profile`)."""
        raise Unsupported(f"{self.name}: {self.profiling_unsupported}")

    def simulation(self, path: Path | None) -> tuple[Backend, str]:
        """The same quantized artifact executed as its quantization simulates it: the same
        scales and zero points, quantize-dequantize around float kernels. Returns a second
        backend loaded so, and how; raises `Unsupported` where this runtime cannot."""
        raise Unsupported(f"{self.name}: {self.simulation_unsupported}")

    def _twin(self, path: Path | None, **settings) -> Backend:
        """Another instance of this backend for the same precision and context, with
        `settings` set before it loads `path` (a simulation's switch)."""
        return type(self).twin_of(self, path, **settings)

    @classmethod
    def twin_of(cls, other: Backend, path: Path | None, **settings) -> Backend:
        """An instance of this backend with `other`'s threads, batch size, precision and
        context, `settings` set, loading `path` (another runtime's simulation of it)."""
        twin = cls(other.threads, "latency", other.batch_size)
        twin.precision, twin.context = other.precision, other.context
        for name, value in settings.items():
            setattr(twin, name, value)
        twin.load(path)
        return twin

    def predict_stream(
        self,
        batches: Iterable[tuple[Tag, np.ndarray]],
        on_logits: Callable[[Tag, np.ndarray], None],
    ) -> None:
        """Run many independent batches, calling `on_logits(tag, logits)` for each.

        Batches may complete out of order and `on_logits` may be called from a runtime
        thread; the logits it gets are valid only during the call (a runtime may hand
        over its own output buffer). Runtimes with their own asynchronous queue
        override this (Offline), and say how many batches they hold at once.
        """
        for tag, batch in batches:
            on_logits(tag, self.predict(batch))

    @property
    def batches_in_flight(self) -> int:
        """How many input batches the runtime may read at once (see `predict_stream`)."""
        return 1

    def settings(self) -> dict:
        """Runtime options that shaped the measurement, recorded in result.json.

        `threads_read_back` is what the runtime reports it uses, asked after loading;
        a runtime that cannot say records why instead (never the request echoed)."""
        return {"threads_requested": self.threads, "threads_read_back": self.threads_read_back(),
                "hint": self.hint, "batch_size": self.batch_size}

    def threads_read_back(self) -> int | str:
        return "not reported by this runtime"
