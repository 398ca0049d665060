"""Options a precision's recipe declares (ONNX Runtime's quantization format, its
calibration method, a future block size or iteration count).

Each is declared once, here by the runtime's own subpackage (`backends/<runtime>/
__init__.py`, which imports no runtime), with its type, default, choices and help. The
CLI offers it as `--<name>`, a matrix takes it as a key, a recipe that lists it gets it
in its build context, its artifact's cache key and `result.json`'s `quantization`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from harness.core.errors import UsageError
from harness.core.quantizers import QUANTIZERS
from harness.core.registry import Registry


@dataclass(frozen=True)
class RecipeOption:
    name: str  # a Python name: `--quant-format` on the CLI, `quant_format` in a matrix
    type: type
    default: object  # None: the recipe decides (and records what it decided)
    help: str
    choices: Collection[object] | None = None  # a tuple, or a registry read when checked

    def check(self, value: object) -> object:
        """The value, or a one-line error naming the choices."""
        if value is None:
            return self.default
        if self.choices is not None and value not in self.choices:
            raise UsageError(f"unknown --{self.name.replace('_', '-')} {value!r}; choose one "
                             f"of: {', '.join(map(str, self.choices))}")
        if not isinstance(value, self.type) or isinstance(value, bool) != (self.type is bool):
            raise UsageError(f"--{self.name.replace('_', '-')} takes a {self.type.__name__}, "
                             f"got {value!r}")
        return value


RECIPE_OPTIONS: Registry[RecipeOption] = Registry("recipe option")


def declare(*options: RecipeOption) -> None:
    for option in options:
        RECIPE_OPTIONS.register(option.name, option)


# Which quantizer makes a quantized precision: every recipe that has a choice reads it
# (`Recipe.quantizer`); omitted, each runtime's default makes it, and is recorded by name.
declare(RecipeOption("quantizer", str, None, "the quantizer that makes int8-static or w4a8 "
                     "(default: the runtime's own; `edgebench info` lists each runtime's)",
                     QUANTIZERS))


def resolve(given: dict[str, object]) -> dict[str, object]:
    """Every declared option's value: what was given (checked), else its default."""
    unknown = sorted(set(given) - set(RECIPE_OPTIONS))
    if unknown:
        raise UsageError(f"unknown recipe option {unknown[0]!r}; choose one of: "
                         f"{', '.join(RECIPE_OPTIONS)}")
    return {name: option.check(given.get(name)) for name, option in RECIPE_OPTIONS.items()}
