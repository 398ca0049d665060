"""What configures one run, written once: each setting's type, default, choices and help.

`RunConfig` is the one definition. The CLI's `run` options, the sweep matrix's keys and
their checks, the sweep and prepare overrides, the child process's command line and the
identity of a configuration (what makes two runs "the same measurement") are all derived
from its fields; recipe options (`backends.options`) join them by declaration.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from backends import BACKENDS
from backends.options import RECIPE_OPTIONS
from backends.options import resolve as resolve_recipe_options
from harness.core.calibration import DEFAULT_COUNT
from harness.core.energy.command import check_command
from harness.core.errors import UsageError
from harness.core.model_card import joined_shapes
from harness.core.model_source import looks_like_source
from harness.core.precisions import PRECISIONS
from harness.core.records import CELL_KEYS
from harness.core.user_models import resolve_model, zoo_names
from scenarios.mlcommons import AUDIT_TESTS, CHECKOUT_ENV, inference_checkout
from scenarios.scenario import SCENARIOS
from scenarios.settings import (
    MLPERF_MIN_DURATION_S,
    MODES,
    QUICK_MAX_DURATION_MS,
    QUICK_MIN_DURATION_MS,
    RunLength,
)

AUTO = "auto"
# `edgebench run`'s hidden option through which a sweep's child answers (its run folder
# or its error), as JSON
ANSWER_OPTION = "--answer-file"


@dataclass(frozen=True)
class Option:
    """How one `RunConfig` field is offered and checked."""

    help: str
    choices: Callable[[], tuple[str, ...]] | None = None  # read from a registry, late
    # what it takes besides its choices (a model: a file or a callable), or None
    also: Callable[[object], bool] | None = None
    matrix: bool = True  # a matrix may set it
    sweep: bool = False  # `sweep` takes it on its command line, over the matrix's
    prepare: bool = False  # so does `prepare`
    identity: bool = True  # part of what makes two runs the same measurement
    path: bool = False  # a file or folder: relative to the matrix file that names it
    hidden: bool = False  # the sweep's own plumbing: not in `run --help`
    metavar: str | None = None
    # given several times on a command line, kept joined by commas (`--shape`)
    repeatable: bool = False

    def accepts(self, value: object) -> bool:
        return self.choices is None or value in self.choices() or \
            (self.also is not None and self.also(value))

    def check(self, name: str, value: object) -> None:
        if value is not None and not self.accepts(value):
            raise UsageError(f"unknown {name.replace('_', ' ')} {value!r}; choose one of: "
                             f"{', '.join(self.choices())}")


def option(default: object, help: str, **how) -> object:
    return field(default=default, metadata={"option": Option(help, **how)})


@dataclass
class RunConfig:
    model: str = option(None, "the model to run: a zoo name, a model file (.pt2, .onnx, "
                        ".tflite, .xml) or package.module:callable", metavar="NAME|FILE",
                        choices=lambda: tuple(zoo_names()), also=looks_like_source)
    model_card: Path | None = option(None, "a model file's card (TOML): inputs, "
                                     "preprocessing, task (default: <model>.toml beside it; "
                                     "'edgebench inspect MODEL' writes one)", path=True,
                                     identity=False)
    shape: str | None = option(None, "a model file's input shape, NAME=1x3x640x640 "
                               "(repeatable; in a matrix, entries joined by commas): fills "
                               "or overrides its card's, as benchmark_app's -shape",
                               metavar="NAME=DIMS", repeatable=True, identity=False)
    backend: str = option("onnxruntime", "the runtime that runs it", choices=BACKENDS.names)
    precision: str = option("fp32", "the precision its runtime makes and runs",
                            choices=PRECISIONS.names)
    scenario: str = option("single-stream", "the MLPerf scenario",
                           choices=SCENARIOS.names)
    mode: str = option("performance", "performance (LoadGen's timing), accuracy (top-1 "
                       "over the dataset), or an MLPerf audit test (TEST01, TEST04: a "
                       "performance run under its audit.config)", choices=lambda: MODES)
    quick: bool = option(False, "short LoadGen minimums (seconds, not minutes); recorded in "
                         "results")
    duration: float | None = option(None, "LoadGen's minimum duration in seconds (default: "
                                    "MLPerf's 600)", metavar="S")
    max_duration: float | None = option(None, "stop LoadGen after S seconds even short of "
                                        "its minimum query count (recorded, flagged; "
                                        f"default: {QUICK_MAX_DURATION_MS // 1000} s when "
                                        "quick, else none)", metavar="S")
    min_queries: int | None = option(None, "LoadGen's minimum query count (default: MLPerf's "
                                     "for the scenario)", metavar="N")
    user_conf: Path | None = option(None, "a LoadGen user.conf (e.g. "
                                    "'*.Offline.min_duration = 60000')", path=True)
    weights: str = option("auto", "auto | random | torchvision | PATH to a checkpoint",
                          sweep=True, prepare=True)
    dataset: str | None = option(None, "'synthetic' (default for performance) or an "
                                 "ImageNet-layout folder", path=True)
    count: int | None = option(None, "use only the first N samples", metavar="N")
    threads: int | None = option(None, "inference threads (default: the usable physical "
                                 "cores)", metavar="N")
    max_batch: int | str = option(AUTO, "Offline batch size, or 'auto': the fastest of 1, 2, "
                                  "4, 8, 16, 32 in a short probe, recorded with its figures",
                                  metavar="N|auto")
    calibration: str | None = option(None, "int8-static: an image folder, a text file of "
                                     "image paths, or 'synthetic'; images shared with "
                                     "--dataset are left out of the evaluation", path=True,
                                     sweep=True, prepare=True)
    calibration_count: int = option(DEFAULT_COUNT, "calibration images", sweep=True,
                                    prepare=True, metavar="N")
    device_name: str | None = option(None, "the device's name in results and reports "
                                     "(default: hostname and board or CPU model)", sweep=True)
    artifacts: Path | None = option(None, "a folder made by 'edgebench prepare' on another "
                                    "machine: its artifacts are checked and used, never built",
                                    sweep=True, identity=False, matrix=False)
    profile: bool = option(False, "performance mode: after LoadGen's run, profile the model "
                           "per operator with its runtime's own profiler, mapped to the "
                           "model's layers (a run of its own: never a headline)")
    energy_command: str | None = option(None, "a command that prints your power meter's "
                                        "cumulative energy ('1234.5 J') or power now "
                                        "('3.2 W'): energy per inference from it, before "
                                        "the machine's own counters (RAPL, a Pi 5's PMIC)",
                                        metavar="CMD", sweep=True, identity=False,
                                        # a meter is one machine's, not a study's
                                        matrix=False)
    mlperf_inference: Path | None = option(None, "MLCommons' inference checkout, for the "
                                           "audit modes' audit.config (default "
                                           f"${CHECKOUT_ENV})", path=True, sweep=True,
                                           identity=False, matrix=False)
    # set per run by the sweep, by a user on the command line, never by a matrix
    results_dir: Path = option(Path("results"), "results folder; a sweep run again with it "
                               "resumes", matrix=False, identity=False, sweep=True)
    cache_dir: Path | None = option(None, "artifact cache (default ~/.cache/edgebench)",
                                    matrix=False, identity=False, sweep=True)
    save_outputs: bool = option(False, "accuracy mode: keep every sample's logits in "
                                "outputs.npy", matrix=False)
    keep_trace: bool = option(False, "keep LoadGen's mlperf_log_trace.json (large on full "
                              "runs)", matrix=False, identity=False)
    # "<sweep id>:<repeat>:<of>:<run key>:<attempt>": finds the run again on resume
    sweep_tag: str | None = option(None, "set by sweep", matrix=False, identity=False,
                                   hidden=True)
    # every declared recipe option (backends.options), defaults filled in
    recipe_options: dict = field(default_factory=dict, metadata={"recipe_options": True})

    def __post_init__(self) -> None:
        self.shape = joined_shapes(self.shape)  # --shape given several times
        self.recipe_options = resolve_recipe_options(self.recipe_options)
        self.max_batch = parse_max_batch(self.max_batch)  # "4" from a command line is 4

    @classmethod
    def from_options(cls, values: dict[str, object]) -> RunConfig:
        """A config from flat keys: fields and recipe options side by side, as the CLI
        and a matrix cell give them."""
        known = {f.name for f in options()}
        return cls(**{k: v for k, v in values.items() if k in known},
                   recipe_options={k: v for k, v in values.items() if k in RECIPE_OPTIONS})

    def flat(self) -> dict[str, object]:
        """The inverse of `from_options`."""
        return {**{f.name: getattr(self, f.name) for f in options()}, **self.recipe_options}

    def with_(self, **changes) -> RunConfig:
        return replace(self, **changes)

    @property
    def run_length(self) -> RunLength:
        return RunLength(self.quick, self.duration, self.min_queries, self.user_conf,
                         self.max_duration)

    @property
    def min_duration_s(self) -> float:
        """LoadGen's minimum duration for this run: --duration, the quick one, or MLPerf's."""
        return self.duration or (QUICK_MIN_DURATION_MS / 1000 if self.quick
                                 else MLPERF_MIN_DURATION_S)

    @property
    def quick_accuracy(self) -> bool:
        """A quick accuracy run without --count: it may score fewer images (recorded)."""
        return self.quick and self.mode == "accuracy" and self.count is None

    @property
    def model_name(self) -> str:
        """The model's registry name: a zoo name, or `<name>@<digest>` of a user's model
        (its bytes and card as used, never its path)."""
        return resolve_model(self.model, self.model_card, self.shape).name

    def identity(self) -> dict[str, str]:
        """What makes two runs the same measurement (the sweep's run key, resume)."""
        return {**{f.name: str(getattr(self, f.name)) for f in options()
                   if f.metadata["option"].identity},
                "model": self.model_name,
                **{k: str(v) for k, v in self.recipe_options.items()}}

    def validate(self) -> None:
        """Every rule on a config's values, before anything slow happens."""
        if self.model is None:
            raise UsageError("a run needs a model: --model NAME|FILE")
        # a file that is no model, or a dimension no one gave a size, fails here
        resolve_model(self.model, self.model_card, self.shape)
        for f in options():
            f.metadata["option"].check(f.name, getattr(self, f.name))
        self.run_length.validate()
        for name, value in (("calibration_count", self.calibration_count),
                            ("threads", self.threads), ("count", self.count)):
            if value is not None and value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.device_name is not None and not self.device_name.strip():
            raise UsageError("--device-name must not be empty (default: hostname and CPU model)")
        if self.mode == "accuracy" and self.dataset in (None, "synthetic"):
            raise UsageError("accuracy mode needs a labelled dataset: pass --dataset DIR")
        if self.mode in AUDIT_TESTS:  # its audit.config must be there before a long run
            AUDIT_TESTS.get(self.mode).config_path(inference_checkout(self.mlperf_inference))
        if self.profile and self.mode != "performance":
            raise UsageError("--profile times operators in a performance run: drop it or "
                             "use --mode performance")
        if self.energy_command is not None:
            check_command(self.energy_command)  # one reading now, before anything slow
        if self.save_outputs and self.mode != "accuracy":
            raise UsageError("--save-outputs keeps one row per sample: use it with --mode "
                             "accuracy")


def flag(name: str) -> str:
    """A field's or recipe option's command-line flag."""
    return "--results" if name == "results_dir" else "--" + name.replace("_", "-")


def to_argv(config: RunConfig) -> list[str]:
    """The `edgebench run` options that reproduce `config`."""
    return argv_of(config.flat())


def argv_of(values: dict) -> list[str]:
    """Command-line options (RunConfig fields and recipe options) that give `values`."""
    argv = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        argv += [flag(name)] if value is True else [flag(name), str(value)]
    return argv


def is_axis(f) -> bool:
    """A field that names the cell (model, backend, ...): a matrix axis, not an option."""
    return f.name in CELL_KEYS


def options() -> list:
    """The `RunConfig` fields a user sets, each with its `Option`."""
    return [f for f in fields(RunConfig) if "option" in f.metadata]


def field_types() -> dict[str, object]:
    return typing.get_type_hints(RunConfig)


def parse_max_batch(value: int | str) -> int | str:
    """'auto' or a positive batch size."""
    if value == AUTO:
        return value
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1 or str(value).strip() != str(size):
        raise UsageError(f"--max-batch must be 'auto' or a positive integer, got {value!r}")
    return size
