"""A user's model as a registry entry like the zoo's: `--model` takes a zoo name, a model
file or `package.module:callable`, and what it names becomes a `ModelSpec` with its
source and card, registered under `<name>@<digest>` so everything downstream (the
plan, recipes, cache keys, records, reports) looks it up as it looks up the zoo's.

The digest covers the model's bytes and the card as used, never the path: the same file
moved is the same model (and keeps its cache); another file of the same name is another.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.digests import fields_digest
from harness.core.errors import UsageError
from harness.core.model_card import (
    FROM_BATCH,
    FROM_FILE,
    ModelCard,
    card_record,
    parse_shapes,
    read_card_file,
    resolve_card,
)
from harness.core.model_source import ModelSource, load_callable, looks_like_source, open_source
from harness.core.zoo.registry import IMAGENET_INPUT, MODELS, ModelSpec

CARD_SUFFIX = ".toml"


def resolve_model(value: str, card_file: Path | None = None, shapes: str | None = None,
                  allow_open: bool = False) -> ModelSpec:
    """The spec `--model value` (with `--model-card` and `--shape`) names, registered on
    first use. A dimension nobody gave a size is one line (`allow_open`: `inspect`,
    which shows it to fill in)."""
    if value in MODELS and card_file is None and not shapes:
        return MODELS.get(value)
    key = (value, card_file, shapes or None)
    known = _resolved.get(key)
    if known is not None and known[0] == _stamp(value, card_file):
        spec = MODELS.get(known[1])
    else:
        spec = _resolve(value, card_file, shapes)
        _resolved[key] = (_stamp(value, card_file), spec.name)
    if not allow_open:
        spec.card.check_filled(spec.source.file_name if spec.source else value)
    return spec


# (model, card, shapes) -> (the files' size and time stamps, the registered name): a run
# asks for its model's name many times; the file is hashed once unless it changes
_resolved: dict[tuple[str, Path | None, str | None], tuple[tuple, str]] = {}


def _stamp(value: str, card_file: Path | None) -> tuple:
    stamps = []
    # the folder too: a companion file (an IR's .bin, external data) added or removed
    for path in (Path(value), card_file, Path(value).with_suffix(CARD_SUFFIX),
                 Path(value).parent):
        if path is not None and path.exists():
            status = path.stat()
            stamps.append((str(path.resolve()), status.st_size, status.st_mtime_ns))
    return tuple(stamps)


def _resolve(value: str, card_file: Path | None, shapes: str | None) -> ModelSpec:
    if value in MODELS:
        if (card_file is not None or shapes) and MODELS.get(value).source is None:
            raise UsageError(f"{value} is a zoo model: its card is built in; --model-card "
                             "and --shape are for a model file or callable")
        return MODELS.get(value)
    if not looks_like_source(value):
        raise UsageError(f"unknown model {value!r}; choose one of: {', '.join(zoo_names())}, "
                         "or give a model file (.pt2, .onnx, .tflite, .xml) or "
                         "package.module:callable")
    source = open_source(value)
    card_file = card_file or beside(source)
    given = read_card_file(card_file) if card_file else {}
    stated = source.read_inputs()
    card = resolve_card(stated, given, source.file_name, parse_shapes(shapes))
    if source.kind.name.startswith("pytorch") and card.image_input is not None \
            and card.image_input.layout != "NCHW":
        raise UsageError(f"{source.file_name}: a PyTorch model's image input is taken as NCHW "
                         "(channels first); its card says otherwise: fix the card's layout "
                         "or wrap the model so that it takes NCHW")
    builder = _builder(source, card)
    _check_card_shapes(source, stated, card, builder)
    # the card's values, not which of them were defaults: a card written out in full
    # (`inspect`, `prepare`) names the same model
    used = {k: v for k, v in card_record(card).items() if k != "defaults"}
    name = f"{card.name or source.stem}@{fields_digest([source.digest, used])[:8]}"
    spec = ModelSpec(name, builder=builder, checkpoint_url=None,
                     input=card.input_config() or IMAGENET_INPUT, source=source, card=card)
    return MODELS.replace(name, spec) if name in MODELS else MODELS.register(name, spec)


def _check_card_shapes(source: ModelSource, stated, card: ModelCard, builder) -> None:
    """Where the card fixes what the file leaves open (a callable states nothing), the
    model must take inputs of those shapes: a one-line error now, not a runtime's failure
    mid-run. A PyTorch model is run once on zeros; another file is asked its kind's way."""
    if stated is not None and all(source in (FROM_FILE, FROM_BATCH)
                                  for spec in card.inputs for source in spec.dim_sources):
        return  # every dimension but the batch is the file's own
    if any(spec.open_dims for spec in card.inputs):
        return  # not runnable yet (`inspect` shows it): nothing to try
    if source.kind.name.startswith("pytorch"):
        reason = _forward_rejects(builder, card.inputs)
    else:
        reason = source.kind.rejects(source.path, card.inputs)
    if reason:
        shapes = ", ".join(f"{spec.name} {list(spec.fed_shape(1))}" for spec in card.inputs)
        raise UsageError(f"{source.file_name} rejects inputs of the shapes its card (or "
                         f"--shape) gives ({shapes}): {reason}; fix the card's [[inputs]] "
                         "shape")


def _forward_rejects(builder, inputs) -> str | None:
    import torch

    tensors = [torch.zeros([d or 1 for d in spec.fed_shape(1)],
                           dtype=getattr(torch, spec.dtype)) for spec in inputs]
    model = builder()
    try:
        with torch.inference_mode():
            model.eval()(*tensors)
    except Exception as exc:  # the user's model on the card's shapes: its own words
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return None


def zoo_names() -> list[str]:
    return [name for name, spec in MODELS.items() if spec.source is None]


def beside(source: ModelSource) -> Path | None:
    """`<model>.toml` next to a model file, when there is one."""
    if source.path is None:
        return None
    card = source.path.with_suffix(CARD_SUFFIX)
    return card if card.is_file() else None


def _builder(source: ModelSource, card: ModelCard):
    """What builds the nn.Module of a PyTorch source, or of an ONNX file (onnx2torch's,
    proven against ONNX Runtime when first built); None for a model in a runtime's own
    format."""
    if source.kind.name == "onnx":
        path = source.path

        def from_onnx():
            from harness.core.onnx_to_torch import convert

            return convert(path, card)[0]

        return from_onnx
    if source.kind.name == "pytorch-callable":
        function = load_callable(source.location)  # an import error: now, in one line

        def from_callable(**overrides):
            try:
                model = function(**overrides)
            except Exception as exc:  # the user's code: their error, in one line
                raise UsageError(f"--model {source.location} raised {type(exc).__name__}: "
                                 f"{exc}; fix the callable (it is called with no "
                                 "arguments and returns an nn.Module)") from None
            if not hasattr(model, "forward") or not hasattr(model, "eval"):
                raise UsageError(f"--model {source.location} returned "
                                 f"{type(model).__name__}, not an nn.Module")
            return model

        return from_callable
    if source.kind.name == "pytorch-program":
        path = source.path.resolve()

        def from_program():
            import inspect

            import torch

            class ExportedModule(torch.nn.Module):
                """The program's module, callable as any nn.Module: it was exported in one
                mode (eval, as a user exports for inference) and cannot switch, so
                eval() and train() leave it as it is (torch refuses them on it). Its
                forward takes the program's inputs by their names, as torch.export (ONNX
                export, litert-torch) binds them."""

                def __init__(self, program):
                    super().__init__()
                    self.program = program.module()

                def forward(self, *args):
                    return self.program(*args)

                def train(self, mode: bool = True):
                    return self

            program = torch.export.load(str(path))
            # a class of its own per program: its forward's signature names the inputs
            parameter = inspect.Parameter.POSITIONAL_OR_KEYWORD
            ExportedModule.forward.__signature__ = inspect.Signature(
                [inspect.Parameter("self", parameter)]
                + [inspect.Parameter(name, parameter)
                   for name in program.graph_signature.user_inputs])
            return ExportedModule(program)

        return from_program
    return None
