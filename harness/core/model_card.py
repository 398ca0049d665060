"""A model card: what a user's model takes and what it answers, as a small TOML file.

What the model file says (input names, static shapes, dtypes) is read from it, never
asked; the card gives the rest (a dynamic dimension's size, where the batch is, the
layout, the preprocessing, the task) and may repeat what the file says, but not
contradict it; `--shape NAME=1x3x640x640` fills or overrides the card's dimensions. A
dimension the file, the card or the command line fixes is never rewritten: only an
input's batch axis takes the batch size, and each dimension records where it came from.
Where the card is silent, the ImageNet-classifier defaults apply (torchvision's
preprocessing and input size, 1000 classes) and the card records which keys they filled, so
a result says what was assumed. `edgebench inspect` writes a card in this format.

    name = "my-resnet"                 # optional: the display name in tables
    task = "imagenet-classification"   # or "none": performance only
    num_classes = 1000
    label_offset = 0                   # 1: class 0 is "background" (1001 outputs)

    [[inputs]]
    name = "input"
    shape = [1, 3, 160, 160]           # at batch 1; -1: a dimension still to fill in
    dtype = "float32"
    layout = "NCHW"                    # NCHW | NHWC for an image; omit otherwise
    # batch_axis = 1                   # where samples stack (default: read from the
    #                                  # file's shape); "none": fed as it is to every batch
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
DTYPES = ("float32", "float16", "float64", "int8", "uint8", "int16", "uint16", "int32",
          "uint32", "int64", "uint64", "bool")
# a card's batch_axis of an input that has none: the same tensor goes with every batch
NO_BATCH_AXIS = "none"
OPEN_DIM = -1  # how a card (and `inspect`) writes a dimension still to fill in
# where a dimension's size came from, as the record says
FROM_FILE, FROM_CARD, FROM_COMMAND_LINE, FROM_DEFAULT, FROM_BATCH = (
    "file", "card", "command line", "default", "batch")
# the values of a synthetic integer input where its card gives no range: valid token
# ids or indices for any table of at least two entries
DEFAULT_INT_RANGE = (0, 2)
IMAGE_LAYOUTS = ("NCHW", "NHWC")
PREPROCESS_KEYS = ("resize_shorter_px", "interpolation", "mean", "std")
IMAGENET_SHAPE = (1, IMAGENET_INPUT.channels, IMAGENET_INPUT.size_px, IMAGENET_INPUT.size_px)
TOP_KEYS = ("name", "task", "num_classes", "label_offset", "inputs", "preprocess")
INPUT_KEYS = ("name", "shape", "dtype", "layout", "batch_axis", "range")


@dataclass(frozen=True)
class InputSpec:
    """One input of the model. `shape` is its shape at batch 1 as the file (or the card)
    gives it: None at the batch axis where the file leaves the batch open, None elsewhere
    only for a dimension nobody has filled in yet (`open_dims`)."""

    name: str
    shape: tuple[int | None, ...]  # () where the source states none (a callable)
    dtype: str = "float32"
    layout: str | None = None  # NCHW | NHWC: an image; None: any other tensor
    # [low, high) of a synthetic input's values (None: N(0, 1) floats, DEFAULT_INT_RANGE)
    value_range: tuple[float, float] | None = None
    # where samples stack in a batch; None: no batch axis (a scalar, a sample rate, a
    # shared table), the same tensor goes with every batch
    batch_axis: int | None = 0
    # per dimension, where its size came from (FROM_FILE, FROM_CARD, ...)
    dim_sources: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_image(self) -> bool:
        return self.layout in IMAGE_LAYOUTS and self.batch_axis == 0 and len(self.shape) == 4

    @property
    def sample_shape(self) -> tuple[int | None, ...]:
        """One sample's shape: without the batch axis (all of it where there is none)."""
        if self.batch_axis is None:
            return self.shape
        return self.shape[:self.batch_axis] + self.shape[self.batch_axis + 1:]

    def fed_shape(self, batch_size: int) -> tuple[int | None, ...]:
        """The shape fed at `batch_size`: only the batch axis scales."""
        if self.batch_axis is None:
            return self.shape
        return tuple(batch_size if axis == self.batch_axis else dim
                     for axis, dim in enumerate(self.shape))

    @property
    def open_dims(self) -> list[int]:
        """Dimensions neither the file, the card nor the command line gives a size."""
        return [axis for axis, dim in enumerate(self.shape)
                if dim is None and axis != self.batch_axis]

    def guessed_layout(self) -> str | None:
        """NCHW or NHWC where the shape says so unambiguously (3 or 1 channels on one
        side only); None otherwise."""
        if len(self.shape) != 4 or self.batch_axis != 0 or \
                not self.dtype.startswith(("float", "bfloat", "uint8")):
            return None
        channels_first = self.shape[1] in (1, 3)
        channels_last = self.shape[3] in (1, 3)
        if channels_first != channels_last:
            return "NCHW" if channels_first else "NHWC"
        return None


def default_batch_axis(shape: tuple[int | None, ...]) -> int | None:
    """Where a file's input takes its batch: dimension 0 where it is open or 1, else the
    first open dimension (a recurrent state [2, batch, 128]); none for a scalar or a
    tensor whose every dimension is fixed above 1 (fed as it is)."""
    if not shape:
        return None
    if shape[0] is None or shape[0] == 1:
        return 0
    return next((axis for axis, dim in enumerate(shape) if dim is None), None)


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
        """The inputs of a model that is not an image classifier (fed synthetic records,
        one field per input, never through the image pipeline); None for a classifier."""
        return None if self.classifies_images else self.inputs

    @property
    def fixed_batch(self) -> int | None:
        """The one batch size the model takes (None: any). A batch axis the file fixes
        fixes it; a model none of whose inputs has a batch axis runs one sample a time."""
        batched = [spec for spec in self.inputs if spec.batch_axis is not None]
        if not batched:
            return 1 if self.inputs else None
        fixed = {spec.shape[spec.batch_axis] for spec in batched
                 if spec.shape[spec.batch_axis] is not None}
        return fixed.pop() if fixed else None

    def fed_shapes(self, batch_size: int) -> dict[str, list[int | None]]:
        """Every input's shape as fed at `batch_size`."""
        return {spec.name: list(spec.fed_shape(batch_size)) for spec in self.inputs}

    def check_filled(self, where: str) -> None:
        """One line naming every input dimension still open: before anything is built."""
        gaps = [(spec, spec.open_dims) for spec in self.inputs if spec.open_dims]
        if not gaps:
            return
        named = "; ".join(f"input {spec.name!r} {_shape(spec.shape)} dimension"
                          f"{'s' if len(dims) > 1 else ''} {', '.join(map(str, dims))}"
                          for spec, dims in gaps)
        example = gaps[0][0]
        fill = "x".join("1" if dim is None and axis == example.batch_axis else
                        ("N" if dim is None else str(dim))
                        for axis, dim in enumerate(example.shape))
        raise UsageError(f"{where}: open dimensions with no size: {named}; give them in the "
                         f"model card's [[inputs]] shape or as --shape {example.name}={fill}")

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
        return InputConfig(
            channels=channels, size_px=height, width_px=None if width == height else width,
            resize_shorter_px=self.resize_shorter_px,
            interpolation=self.interpolation, mean=self.mean, std=self.std,
            layout=image.layout, num_classes=self.num_classes,
            label_offset=self.label_offset)


def record_dtype(inputs: tuple[InputSpec, ...]) -> np.dtype:
    """One sample of a multi-input or non-image model: a structured record, a field per
    input (its name, type and one sample's shape), so it travels through the QSL as one
    array. Each field's title says where its batch axis is: every reader of a batch
    (a runtime, a quantizer's calibration reader) lays the inputs out alike from the
    batch alone (`batch_axis_of`)."""
    return np.dtype([((f"{spec.name}{_AXIS_TITLE}{spec.batch_axis}", spec.name), spec.dtype,
                      spec.sample_shape) for spec in inputs])


_AXIS_TITLE = " batch_axis="


def feed_arrays(batch: np.ndarray) -> dict[str, np.ndarray]:
    """A batch of `record_dtype` records as one array per input name, in the model's
    order, each with its samples along its own batch axis (a state [2, batch, 128]), or
    the first sample's value as it is for an input without one (a scalar stays 0-d)."""
    fed = {}
    for name in batch.dtype.names:
        axis, array = batch_axis_of(batch.dtype, name), batch[name]
        if axis is None:
            array = np.array(array[0])
        elif axis:
            array = np.moveaxis(array, 0, axis)
        fed[name] = np.ascontiguousarray(array) if array.ndim else array
    return fed


def batch_axis_of(dtype: np.dtype, name: str) -> int | None:
    """Where a record field's batch axis goes when a batch of records is fed (0 for a
    record made without `record_dtype`'s titles); None: no batch axis."""
    title = dtype.fields[name][2] if len(dtype.fields[name]) > 2 else None
    if not title or _AXIS_TITLE not in title:
        return 0
    axis = title.rpartition(_AXIS_TITLE)[2]
    return None if axis == "None" else int(axis)


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


def joined_shapes(values: str | list[str] | tuple[str, ...] | None) -> str | None:
    """`--shape` given several times (argparse's list), as one value: entries joined by
    commas, as a matrix writes them."""
    if isinstance(values, (list, tuple)):
        return ",".join(values) or None
    return values


def parse_shapes(text: str | None) -> dict[str, tuple[int, ...]]:
    """`--shape` values, `NAME=1x3x640x640` entries joined by commas, as {name: dims};
    one line naming the entry that does not parse."""
    shapes: dict[str, tuple[int, ...]] = {}
    for entry in filter(None, (part.strip() for part in (text or "").split(","))):
        name, equals, dims = entry.rpartition("=")
        try:
            if not equals or not name:
                raise ValueError
            shape = tuple(int(d) for d in dims.split("x")) if dims else ()
            if any(d < 1 for d in shape):
                raise ValueError
        except ValueError:
            raise UsageError(f"--shape {entry!r}: give NAME=DIMS, the input's name and its "
                             "sizes joined by 'x' (e.g. --shape x=1x3x640x640; NAME= for a "
                             "scalar)") from None
        shapes[name] = shape
    return shapes


def resolve_card(file_inputs: list[InputSpec] | None, given: dict, where: str,
                 shapes: dict[str, tuple[int, ...]] | None = None) -> ModelCard:
    """The card a run uses: the file's inputs (None: a source that states none) with what
    the card (`given`, from `read_card_file`, or {}) and the command line (`shapes`,
    from `parse_shapes`) add, and defaults where all are silent. Dimensions nobody
    filled stay open (`ModelCard.check_filled` refuses them before a run)."""
    defaults: list[str] = []
    inputs = _merge_inputs(file_inputs, given.get("inputs"), where, defaults, shapes or {})
    preprocess = given.get("preprocess", {})
    values: dict = {}
    for key in ("name", "task", "num_classes", "label_offset"):
        if key in given:
            values[key] = given[key]
    for key in PREPROCESS_KEYS:
        if key in preprocess:
            values[key] = tuple(preprocess[key]) if key in ("mean", "std") else preprocess[key]
    card = replace(ModelCard(inputs=tuple(inputs)), **values)
    if "task" not in given and card.image_input is None:
        card = replace(card, task="none")  # no single image: a speed-only model
    _check_values(card, where)
    for key in ("task", "num_classes", "label_offset"):
        if key not in given:
            defaults.append(key)
    if card.image_input is not None and not card.image_input.open_dims:
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
                  defaults: list[str], shapes: dict[str, tuple[int, ...]]) -> list[InputSpec]:
    stated_by_file = file_inputs is not None
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
    unknown = sorted(set(shapes) - {spec.name for spec in file_inputs})
    if unknown:
        raise UsageError(f"--shape {unknown[0]}=...: the model has no input {unknown[0]!r}; "
                         f"its inputs: {_describe(file_inputs)}")
    merged = []
    for number, read in enumerate(file_inputs):
        card = (given or [{}] * len(file_inputs))[number]
        if "name" in card and card["name"] != read.name:
            raise UsageError(f"{where}: input {number + 1} is {read.name!r} in the model, "
                             f"{card['name']!r} in the card; use the model's name")
        if not stated_by_file:  # the source states no shape (a callable): the card's or
            # the command line's, else ImageNet's; any batch size at dimension 0
            stated = shapes.get(read.name) or card.get("shape")
            if stated is None:
                defaults.append(f"inputs.{read.name}.shape")
            origin = FROM_COMMAND_LINE if read.name in shapes else \
                FROM_CARD if stated is not None else FROM_DEFAULT
            stated = list(stated or IMAGENET_SHAPE)
            spec = replace(read, shape=(None, *[None if d == OPEN_DIM else d
                                                for d in stated[1:]]),
                           dim_sources=(FROM_BATCH, *[origin] * (len(stated) - 1)))
        else:
            spec = _shaped(read, card, shapes.get(read.name), where, defaults)
        dtype = card.get("dtype", read.dtype)
        if dtype != read.dtype:
            raise UsageError(f"{where}: input {read.name!r} is {read.dtype} in the model, "
                             f"{dtype} in the card; use the model's type")
        value_range = tuple(card["range"]) if "range" in card else None
        spec = replace(spec, layout=card.get("layout", read.layout), value_range=value_range)
        if "layout" not in card and spec.layout is None:
            spec = replace(spec, layout=spec.guessed_layout())
            if spec.layout is not None:
                defaults.append(f"inputs.{read.name}.layout")
        merged.append(spec)
    return merged


def _shaped(read: InputSpec, card: dict, command_line: tuple[int, ...] | None, where: str,
            defaults: list[str]) -> InputSpec:
    """The file's input with its batch axis placed and its open dimensions filled by the
    card, then the command line; a size that contradicts the file is one line."""
    file_shape = read.shape
    batch_axis = _batch_axis(read, card, where, defaults)
    shape = list(file_shape)
    sources = [FROM_FILE if dim is not None else FROM_DEFAULT for dim in file_shape]
    for origin, wanted in ((FROM_CARD, card.get("shape")), (FROM_COMMAND_LINE, command_line)):
        if wanted is None:
            continue
        what = "in the card" if origin == FROM_CARD else "on the command line"
        if len(wanted) != len(file_shape):
            raise UsageError(f"{where}: input {read.name!r} has rank {len(file_shape)} "
                             f"({_shape(file_shape)}) in the model, {len(wanted)} "
                             f"({_shape(wanted)}) {what}; give one size per dimension")
        for axis, (have, want) in enumerate(zip(file_shape, wanted, strict=True)):
            if want == OPEN_DIM:
                continue
            if axis == batch_axis and have is None and want != 1:
                raise UsageError(
                    f"{where}: input {read.name!r} dimension {axis} is its batch axis, "
                    f"{want} {what}; give 1 there (the batch is edgebench's to set: "
                    "--max-batch), or batch_axis = \"none\" to feed that shape as it is")
            if have is not None and want != have:
                raise UsageError(f"{where}: input {read.name!r} dimension {axis} is fixed at "
                                 f"{have} in the model ({_shape(file_shape)}), {want} {what}; "
                                 "a card or --shape may only fill dimensions the model "
                                 "leaves open")
            if axis != batch_axis and have is None:
                shape[axis], sources[axis] = want, origin
    if batch_axis is not None:
        sources[batch_axis] = FROM_BATCH if file_shape[batch_axis] is None else FROM_FILE
    return replace(read, shape=tuple(shape), batch_axis=batch_axis, dim_sources=tuple(sources))


def _batch_axis(read: InputSpec, card: dict, where: str, defaults: list[str]) -> int | None:
    if "batch_axis" not in card:
        defaults.append(f"inputs.{read.name}.batch_axis")
        return default_batch_axis(read.shape)
    value = card["batch_axis"]
    if value == NO_BATCH_AXIS:
        if any(dim is None for dim in read.shape):
            raise UsageError(f"{where}: input {read.name!r} has batch_axis = \"none\" and "
                             f"open dimensions ({_shape(read.shape)}); give their sizes in "
                             "its shape, or name the batch axis")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 0 <= value < len(read.shape):
        raise UsageError(f"{where}: input {read.name!r} batch_axis {value!r} is out of range "
                         f"for its rank-{len(read.shape)} shape {_shape(read.shape)}; give "
                         f"0 to {len(read.shape) - 1}, or \"none\"")
    fixed = read.shape[value]
    if fixed is not None and fixed != 1:
        raise UsageError(f"{where}: input {read.name!r} batch_axis {value}: the model fixes "
                         f"that dimension at {fixed} ({_shape(read.shape)}); name an open "
                         "dimension, or \"none\" to feed the shape as it is")
    return value


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
    """The crop's shorter side."""
    height, width = image.sample_shape[1:] if image.layout == "NCHW" else \
        image.sample_shape[:2]
    return min(height, width)


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
        shown = [1 if axis == spec.batch_axis else (OPEN_DIM if dim is None else dim)
                 for axis, dim in enumerate(spec.shape)]
        shape_line = f"shape = {value(shown)}"
        if spec.open_dims:
            shape_line += (f"  # FILL IN: dimension{'s' if len(spec.open_dims) > 1 else ''} "
                           f"{', '.join(map(str, spec.open_dims))} open in the file "
                           f"({OPEN_DIM}), or give --shape {spec.name}=...")
        lines += ["", "[[inputs]]", line("name", spec.name), shape_line,
                  line("dtype", spec.dtype)]
        if spec.batch_axis != 0 or not spec.shape:
            lines.append(line("batch_axis", NO_BATCH_AXIS if spec.batch_axis is None
                              else spec.batch_axis, f"inputs.{spec.name}.batch_axis"))
        if spec.layout:
            lines.append(line("layout", spec.layout, f"inputs.{spec.name}.layout"))
        if spec.value_range:
            lines.append(line("range", list(spec.value_range)))
    config = None if any(spec.open_dims for spec in card.inputs) else card.input_config()
    if config is not None:
        lines += ["", "[preprocess]"]
        lines += [line(key, getattr(config, key)) for key in PREPROCESS_KEYS]
    return "\n".join(lines) + "\n"


def card_record(card: ModelCard) -> dict:
    """The card as result.json records it."""
    record = {f.name: getattr(card, f.name) for f in fields(card) if f.name != "inputs"}
    record["inputs"] = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype,
                         "layout": s.layout, "range": s.value_range,
                         "batch_axis": s.batch_axis, "dim_sources": list(s.dim_sources)}
                        for s in card.inputs]
    record["defaults"] = list(card.defaults)
    return record
