"""A model card: what a user's model takes and what it answers, as a small TOML file.

What the model file says (input names, static shapes, dtypes) is read from it, never
asked; the card gives the rest (a dynamic dimension's size, the layout, the
preprocessing, the task) and may repeat what the file says, but not contradict it.
Where the card is silent, the ImageNet-classifier defaults apply (torchvision's
preprocessing and input size, 1000 classes) and the card records which keys they filled, so
a result says what was assumed. `edgebench inspect` writes a card in this format.

    name = "my-resnet"                 # optional: the display name in tables
    task = "imagenet-classification"   # or "none": performance only
    num_classes = 1000
    label_offset = 0                   # 1: class 0 is "background" (1001 outputs)

    [[inputs]]
    name = "input"
    shape = [1, 3, 160, 160]           # the batch dimension first; any size there
    dtype = "float32"
    layout = "NCHW"                    # NCHW | NHWC for an image; omit otherwise
    # range = [0, 30522]               # another input's synthetic values: [low, high)

    [preprocess]                       # for an image input
    resize_shorter_px = 182
    interpolation = "bilinear"
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from harness.core.errors import UsageError
from harness.core.input_config import IMAGENET_INPUT, InputConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TASKS = ("imagenet-classification", "none")
# numpy's names: a synthetic input is made in numpy (which has no bfloat16)
DTYPES = ("float32", "float16", "int8", "uint8", "int16", "int32", "int64", "bool")
# the values of a synthetic integer input where its card gives no range: valid token
# ids or indices for any table of at least two entries
DEFAULT_INT_RANGE = (0, 2)
IMAGE_LAYOUTS = ("NCHW", "NHWC")
PREPROCESS_KEYS = ("resize_shorter_px", "interpolation", "mean", "std")
IMAGENET_SHAPE = (1, IMAGENET_INPUT.channels, IMAGENET_INPUT.size_px, IMAGENET_INPUT.size_px)
TOP_KEYS = ("name", "task", "num_classes", "label_offset", "inputs", "preprocess")
INPUT_KEYS = ("name", "shape", "dtype", "layout", "range")


@dataclass(frozen=True)
class InputSpec:
    """One input of the model. `shape` starts with the batch dimension; None: a
    dimension the model file leaves open."""

    name: str
    shape: tuple[int | None, ...]  # () where the source states none (a callable)
    dtype: str = "float32"
    layout: str | None = None  # NCHW | NHWC: an image; None: any other tensor
    # [low, high) of a synthetic input's values (None: N(0, 1) floats, DEFAULT_INT_RANGE)
    value_range: tuple[float, float] | None = None

    @property
    def is_image(self) -> bool:
        return self.layout in IMAGE_LAYOUTS

    @property
    def sample_shape(self) -> tuple[int | None, ...]:
        """One sample's shape: without the batch dimension."""
        return self.shape[1:]

    def guessed_layout(self) -> str | None:
        """NCHW or NHWC where the shape says so unambiguously (3 or 1 channels on one
        side only); None otherwise."""
        if len(self.shape) != 4 or not self.dtype.startswith(("float", "bfloat", "uint8")):
            return None
        channels_first = self.shape[1] in (1, 3)
        channels_last = self.shape[3] in (1, 3)
        if channels_first != channels_last:
            return "NCHW" if channels_first else "NHWC"
        return None


@dataclass(frozen=True)
class ModelCard:
    name: str | None = None
    task: str = "imagenet-classification"
    num_classes: int = IMAGENET_INPUT.num_classes
    label_offset: int = 0
    inputs: tuple[InputSpec, ...] = ()
    resize_shorter_px: int | None = None  # an image's; resolve_card: torchvision's ratio
    interpolation: str = IMAGENET_INPUT.interpolation
    mean: tuple[float, ...] = IMAGENET_INPUT.mean
    std: tuple[float, ...] = IMAGENET_INPUT.std
    # the card keys that took a default, not the file's or the user's value
    defaults: tuple[str, ...] = field(default=(), compare=False)

    @property
    def image_input(self) -> InputSpec | None:
        """The single image input an ImageNet pipeline feeds; None for any other model."""
        if len(self.inputs) == 1 and self.inputs[0].is_image:
            return self.inputs[0]
        return None

    @property
    def tensor_inputs(self) -> tuple[InputSpec, ...] | None:
        """The inputs of a model that takes no single image (fed synthetic records, one
        field per input); None for an image model."""
        return None if self.image_input is not None else self.inputs

    @property
    def classifies_images(self) -> bool:
        return self.task == "imagenet-classification" and self.image_input is not None

    @classmethod
    def of_image_classifier(cls, name: str, config: InputConfig) -> ModelCard:
        """The card of a model that states its input config (the zoo's): nothing assumed."""
        shape = (None, config.channels, config.size_px, config.size_px) \
            if config.layout == "NCHW" else (None, config.size_px, config.size_px, config.channels)
        return cls(name=name, num_classes=config.num_classes, label_offset=config.label_offset,
                   inputs=(InputSpec("input", shape, "float32", config.layout),),
                   resize_shorter_px=config.resize_shorter_px,
                   interpolation=config.interpolation, mean=config.mean, std=config.std)

    def input_config(self) -> InputConfig | None:
        """How an ImageNet photo becomes this model's input; None when no photo can."""
        image = self.image_input
        if image is None:
            return None
        if image.layout == "NCHW":
            channels, height, width = image.sample_shape
        else:
            height, width, channels = image.sample_shape
        if height != width:
            raise UsageError(
                f"input {image.name!r} is {height}x{width}: edgebench's image pipeline "
                "centre-crops a square; give the model a square input in its card "
                "(inputs.shape), or run it on synthetic inputs with task = \"none\"")
        return InputConfig(
            channels=channels, size_px=height,
            resize_shorter_px=self.resize_shorter_px,
            interpolation=self.interpolation, mean=self.mean, std=self.std,
            layout=image.layout, num_classes=self.num_classes,
            label_offset=self.label_offset)


def record_dtype(inputs: tuple[InputSpec, ...]) -> np.dtype:
    """One sample of a multi-input or non-image model: a structured record, a field per
    input (its name, type and shape), so it travels through the QSL as one array."""
    return np.dtype([(spec.name, spec.dtype, spec.sample_shape) for spec in inputs])


def read_card_file(path: Path) -> dict:
    """The card's keys, checked for unknown ones; one line naming the problem if not."""
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"model card {path} not found: give --model-card FILE, or write "
                         "one with 'edgebench inspect MODEL > FILE'") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"model card {path} is not readable TOML ({exc}); fix the file or "
                         "write a new one with 'edgebench inspect MODEL'") from None
    _check_keys(values, TOP_KEYS, f"model card {path}")
    for number, entry in enumerate(values.get("inputs", []), 1):
        if not isinstance(entry, dict):
            raise UsageError(f"model card {path}: 'inputs' is a list of [[inputs]] tables")
        _check_keys(entry, INPUT_KEYS, f"model card {path}, input {number}")
    _check_keys(values.get("preprocess", {}), PREPROCESS_KEYS, f"model card {path}, "
                "[preprocess]")
    return values


def _check_keys(values: dict, known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; the keys are: "
                         f"{', '.join(known)}")


def resolve_card(file_inputs: list[InputSpec] | None, given: dict, where: str) -> ModelCard:
    """The card a run uses: the file's inputs (None: a source that states none) with what
    the card (`given`, from `read_card_file`, or {}) adds, and defaults where both are
    silent."""
    defaults: list[str] = []
    inputs = _merge_inputs(file_inputs, given.get("inputs"), where, defaults)
    preprocess = given.get("preprocess", {})
    values: dict = {}
    for key in ("name", "task", "num_classes", "label_offset"):
        if key in given:
            values[key] = given[key]
    for key in PREPROCESS_KEYS:
        if key in preprocess:
            values[key] = tuple(preprocess[key]) if key in ("mean", "std") else preprocess[key]
    card = replace(ModelCard(inputs=tuple(inputs)), **values)
    _check_values(card, where)
    for key in ("task", "num_classes", "label_offset"):
        if key not in given:
            defaults.append(key)
    if card.image_input is not None:
        defaults += [key for key in PREPROCESS_KEYS if key not in preprocess]
        if card.resize_shorter_px is None:  # torchvision's ratio of resize to crop
            ratio = IMAGENET_INPUT.resize_shorter_px / IMAGENET_INPUT.size_px
            card = replace(card, resize_shorter_px=round(_side(card.image_input) * ratio))
    if card.task == "imagenet-classification" and card.image_input is None:
        raise UsageError(
            f"{where}: task imagenet-classification needs one image input (NCHW or NHWC), "
            f"the model has {_describe(inputs)}; set task = \"none\" in its card to measure "
            "its speed on synthetic inputs")
    return replace(card, defaults=tuple(defaults))


def _merge_inputs(file_inputs: list[InputSpec] | None, given: list[dict] | None, where: str,
                  defaults: list[str]) -> list[InputSpec]:
    if file_inputs is None:  # the source states none (a callable): the card's, by position,
        # each named as the export will name it; or one ImageNet image
        given = given or [{}]
        file_inputs = [InputSpec(entry.get("name", "input" if len(given) == 1 else
                                           f"input_{number}"), (),
                                 entry.get("dtype", "float32"))
                       for number, entry in enumerate(given)]
    if given is not None and len(given) != len(file_inputs):
        raise UsageError(f"{where}: the card lists {len(given)} inputs, the model has "
                         f"{len(file_inputs)} ({_describe(file_inputs)}); list them all, "
                         "in the model's order")
    merged = []
    for number, read in enumerate(file_inputs):
        card = (given or [{}] * len(file_inputs))[number]
        if "name" in card and card["name"] != read.name:
            raise UsageError(f"{where}: input {number + 1} is {read.name!r} in the model, "
                             f"{card['name']!r} in the card; use the model's name")
        shape = list(read.shape)
        if not shape:  # the source states no shape (a callable): the card's, or ImageNet's
            shape = [None, *card.get("shape", IMAGENET_SHAPE)[1:]]  # any batch size
            if "shape" not in card:
                defaults.append(f"inputs.{read.name}.shape")
        elif "shape" in card:
            wanted = card["shape"]
            if len(wanted) != len(shape) or any(
                    have is not None and have != want
                    for have, want in zip(shape[1:], wanted[1:], strict=False)):
                raise UsageError(f"{where}: input {read.name!r} has shape {_shape(read.shape)} "
                                 f"in the model, {_shape(wanted)} in the card; the card "
                                 "may only fix dimensions the model leaves open")
            shape = [shape[0], *wanted[1:]]
        if any(dim is None for dim in shape[1:]):
            raise UsageError(
                f"{where}: input {read.name!r} has open dimensions ({_shape(shape)}); fix "
                f"them in the model card: [[inputs]] name = \"{read.name}\", "
                "shape = [1, ...] (write one with 'edgebench inspect MODEL')")
        dtype = card.get("dtype", read.dtype)
        if dtype != read.dtype:
            raise UsageError(f"{where}: input {read.name!r} is {read.dtype} in the model, "
                             f"{dtype} in the card; use the model's type")
        value_range = tuple(card["range"]) if "range" in card else None
        spec = InputSpec(read.name, tuple(shape), dtype, card.get("layout", read.layout),
                         value_range)
        if "layout" not in card and spec.layout is None:
            spec = replace(spec, layout=spec.guessed_layout())
            if spec.layout is not None:
                defaults.append(f"inputs.{read.name}.layout")
        merged.append(spec)
    return merged


def _check_values(card: ModelCard, where: str) -> None:
    checks = [
        (card.task in TASKS, f"task {card.task!r}; choose one of: {', '.join(TASKS)}"),
        (isinstance(card.num_classes, int) and card.num_classes > 0,
         f"num_classes {card.num_classes!r}: a positive integer"),
        (card.label_offset in (0, 1), f"label_offset {card.label_offset!r}: 0, or 1 for "
         "a model whose class 0 is background"),
        (len(card.mean) == len(card.std) and all(s > 0 for s in card.std),
         "mean and std: one value per channel, std above 0"),
    ]
    for spec in card.inputs:
        checks.append((spec.layout in (None, *IMAGE_LAYOUTS),
                       f"input {spec.name!r} layout {spec.layout!r}; choose NCHW or NHWC, "
                       "or leave it out for a tensor that is not an image"))
        checks.append((spec.dtype in DTYPES, f"input {spec.name!r} dtype {spec.dtype!r}; "
                       f"choose one of: {', '.join(DTYPES)}"))
        checks.append((spec.value_range is None or (
            len(spec.value_range) == 2 and spec.value_range[0] < spec.value_range[1]),
            f"input {spec.name!r} range {spec.value_range!r}: [low, high] with low < high"))
    for ok, message in checks:
        if not ok:
            raise UsageError(f"{where}: {message}")


def _side(image: InputSpec) -> int:
    return image.sample_shape[1] if image.layout == "NCHW" else image.sample_shape[0]


def _shape(shape) -> str:
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def _describe(inputs: list[InputSpec]) -> str:
    return ", ".join(f"{spec.name} {_shape(spec.shape)} {spec.dtype}" for spec in inputs) \
        or "no inputs"


def card_toml(card: ModelCard) -> str:
    """The card in its own format, each default marked, for a user to save and edit."""
    def value(v) -> str:
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join("-1" if x is None else value(x) for x in v) + "]"
        return repr(v)

    def line(key: str, v, default_key: str | None = None) -> str:
        note = "  # default" if (default_key or key) in card.defaults else ""
        return f"{key} = {value(v)}{note}"

    lines = [line("name", card.name)] if card.name else []
    lines += [line("task", card.task), line("num_classes", card.num_classes),
              line("label_offset", card.label_offset)]
    for spec in card.inputs:
        lines += ["", "[[inputs]]", line("name", spec.name),
                  line("shape", [1, *spec.shape[1:]]), line("dtype", spec.dtype)]
        if spec.layout:
            lines.append(line("layout", spec.layout, f"inputs.{spec.name}.layout"))
        if spec.value_range:
            lines.append(line("range", list(spec.value_range)))
    config = card.input_config()
    if config is not None:
        lines += ["", "[preprocess]"]
        lines += [line(key, getattr(config, key)) for key in PREPROCESS_KEYS]
    return "\n".join(lines) + "\n"


def card_record(card: ModelCard) -> dict:
    """The card as result.json records it."""
    record = {f.name: getattr(card, f.name) for f in fields(card) if f.name != "inputs"}
    record["inputs"] = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype,
                         "layout": s.layout, "range": s.value_range} for s in card.inputs]
    record["defaults"] = list(card.defaults)
    return record
