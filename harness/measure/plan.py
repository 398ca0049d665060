"""A run's plan, made once from its configuration: the scenario, the backend, the weights,
the calibration set, and which artifacts the run needs and how each is built.

`edgebench run` measures from it; `edgebench prepare` builds every artifact it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backends import get_backend_class
from backends.base import Backend
from backends.options import RECIPE_OPTIONS
from backends.recipes import BuildContext, Recipe
from harness.core.artifacts import ArtifactCache
from harness.core.calibration import CalibrationSet, resolve_calibration
from harness.core.errors import UsageError
from harness.core.model_card import InputSpec
from harness.core.precisions import reference_precision
from harness.core.prepared import PreparedArtifacts
from harness.core.weights import WeightsSource, resolve_weights
from harness.core.zoo import InputConfig, get_spec
from harness.measure.config import AUTO, RunConfig
from harness.measure.probe import OFFLINE_BATCH_CANDIDATES
from scenarios.scenario import Scenario, get_scenario


@dataclass(frozen=True)
class ArtifactNeed:
    """One artifact a run loads: a precision of its backend at a batch size."""

    precision: str
    batch_size: int
    why: str  # "measured", "batch probe", "fidelity reference"


def check(config: RunConfig) -> Scenario:
    """Every rule on the configuration, with the backend's own (calibration); nothing
    slow. Returns the scenario."""
    config.validate()
    backend_class = get_backend_class(config.backend)
    reason = backend_class.unsupported_reason(
        config.precision, get_spec(config.model_name).source_kind, config.recipe_options)
    recipe = backend_class.recipe(config.precision)
    if not reason:  # an unsupported run is recorded with its reason, options aside
        recipe = backend_class.recipe(config.precision, config.recipe_options)
        _check_options_read(config, recipe)
    if recipe.needs_calibration and config.calibration is None and config.artifacts is None \
            and not reason:
        raise UsageError(
            f"{config.precision} on {config.backend} needs calibration images: pass "
            "--calibration DIR|LIST (e.g. the dataset folder; its calibration images are "
            "then left out of the evaluation), or --calibration synthetic")
    return get_scenario(config.scenario)


def _check_options_read(config: RunConfig, recipe: Recipe) -> None:
    """A recipe option set to other than its default that this precision's recipe does
    not read would change nothing: one line naming it."""
    for name, option in RECIPE_OPTIONS.items():
        if config.recipe_options[name] != option.default and not recipe.reads(name):
            raise UsageError(
                f"--{name.replace('_', '-')} {config.recipe_options[name]}: {config.backend} "
                f"{config.precision} does not read it (made by: {recipe.summary}); drop it")


@dataclass
class RunPlan:
    config: RunConfig
    scenario: Scenario
    backend_class: type[Backend]
    cache: ArtifactCache
    weights: WeightsSource
    calibration: CalibrationSet | None
    context: BuildContext = field(init=False)

    def __post_init__(self) -> None:
        prepared = self.config.artifacts
        self.context = BuildContext(
            self.config.model_name, self.weights, self.cache, calibration=self.calibration,
            options=self.config.recipe_options,
            prepared=PreparedArtifacts(prepared) if prepared else None)

    @classmethod
    def of(cls, config: RunConfig, cache: ArtifactCache | None = None) -> RunPlan:
        scenario = check(config)
        cache = cache or ArtifactCache(config.cache_dir)
        return cls(config, scenario, get_backend_class(config.backend), cache,
                   resolve_weights(config.weights, config.model_name),
                   calibration_of(config, cache))

    @property
    def input_config(self) -> InputConfig:
        """How the model's samples are laid out and preprocessed (its spec says)."""
        return get_spec(self.config.model_name).input

    @property
    def tensor_inputs(self) -> tuple[InputSpec, ...] | None:
        """A model that takes no single image: its inputs (fed synthetic records)."""
        return get_spec(self.config.model_name).tensor_inputs

    @property
    def unsupported_reason(self) -> str | None:
        """Why this machine cannot run the precision (or the model this scenario), known
        before building anything."""
        spec = get_spec(self.config.model_name)
        if self.config.mode == "accuracy" and not spec.card.classifies_images:
            return (f"accuracy mode scores ImageNet classes of one image input; this model's "
                    f"card says task = \"{spec.card.task}\" with inputs "
                    f"{', '.join(i.name for i in spec.card.inputs)} (set task = "
                    "\"imagenet-classification\" in its card if it is such a classifier)")
        wanted = self.scenario.samples_per_query
        if spec.fixed_batch is not None and wanted is not None and wanted != spec.fixed_batch:
            return (f"the model's batch dimension is fixed at {spec.fixed_batch} (its file "
                    f"says so) and {self.scenario.name} sends {wanted} samples per query: "
                    "export the model with a dynamic batch dimension")
        reason = self.backend_class.unsupported_reason(
            self.config.precision, spec.source_kind, self.config.recipe_options)
        if not reason and self.config.profile and self.backend_class.profiling_unsupported:
            reason = f"--profile: {self.backend_class.profiling_unsupported}"
        if reason or self.config.artifacts:  # built elsewhere: only running it matters
            return reason
        return self.recipe(self.config.precision).build_refusal()

    def recipe(self, precision: str) -> Recipe:
        """How the backend makes `precision`, by the quantizer the run chose."""
        return self.backend_class.recipe(precision, self.config.recipe_options)

    @property
    def needs_fidelity(self) -> bool:
        """A quantized accuracy run is compared with the reference precision's logits;
        a quick one is not (it would double its time), and says so."""
        return self.config.mode == "accuracy" and not self.config.quick and \
            self.config.precision != reference_precision()

    @property
    def needs_simulation(self) -> bool:
        """A statically quantized accuracy run is also run as its quantization simulates
        it (fake-quant in float) on the same samples: the accuracy one would have
        reported from simulation, beside the one deployed."""
        return self.needs_fidelity and self.recipe(self.config.precision).needs_calibration

    def batch_sizes(self) -> list[int]:
        """The scenario's batch, Offline's given size, or every size `auto` probes."""
        if self.scenario.samples_per_query is not None:
            return [self.scenario.samples_per_query]
        fixed = get_spec(self.config.model_name).fixed_batch
        if fixed is not None:  # the model allows one batch size: Offline runs at it
            if self.config.max_batch not in (AUTO, fixed):
                raise UsageError(f"--max-batch {self.config.max_batch}: the model's batch "
                                 f"dimension is fixed at {fixed}; leave --max-batch at auto")
            return [fixed]
        if self.config.max_batch == AUTO:
            return list(OFFLINE_BATCH_CANDIDATES)
        return [int(self.config.max_batch)]

    def needs(self) -> list[ArtifactNeed]:
        """Every artifact the run may load (static-shape runtimes: one per batch size)."""
        sizes = self.batch_sizes()
        needs = [ArtifactNeed(self.config.precision, size,
                              "measured" if len(sizes) == 1 else "batch probe")
                 for size in sizes]
        if self.needs_fidelity:
            needs.append(ArtifactNeed(reference_precision(), sizes[0], "fidelity reference"))
        return needs

    def backend(self, precision: str, batch_size: int, threads: int,
                hint: str | None = None) -> tuple[Backend, Path | None, float]:
        """A backend loaded with `precision` for `batch_size`, its artifact, and the
        seconds spent building it here (0 when it came from the cache)."""
        backend = self.backend_class(threads, hint or self.scenario.hint, batch_size)
        built_before = self.cache.build_seconds
        artifact = backend.prepare(self.context, precision)
        return backend, artifact, self.cache.build_seconds - built_before


def calibration_of(config: RunConfig, cache: ArtifactCache) -> CalibrationSet | None:
    if config.calibration is None:
        return None
    dataset_dir = None if config.dataset in (None, "synthetic") else Path(config.dataset)
    spec = get_spec(config.model_name)
    return resolve_calibration(config.calibration, config.calibration_count, dataset_dir,
                               cache.root, spec.input,
                               spec.tensor_inputs)
