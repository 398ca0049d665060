"""Sweep matrices: TOML files of axes to multiply, fixed options, exclusions and extra
cells, read into the list of cells `edgebench sweep` runs.

    [axes]                       # every combination of these
    model = ["mobilenet_v2"]
    backend = ["onnxruntime", "openvino"]
    precision = ["fp32", "int8-static"]
    scenario = ["single-stream", "offline"]
    mode = ["performance"]

    [options]                    # the same for every cell
    quick = true
    repeat = 1

    [[exclude]]                  # cells matching all of these keys are left out
    backend = "onnxruntime"
    precision = "bf16"

    [[vary]]                     # matching cells again, once per value of an option
    backend = "onnxruntime"      # (axis keys select: a value or a list of them)
    precision = "int8-static"
    quantizer = ["entropy", "adaround"]   # (lists of option values multiply)

    [[extra]]                    # cells added as they are
    model = "vgg19"
    backend = "openvino"
    precision = "fp32"
    scenario = "offline"
    mode = "accuracy"

Relative paths in options (dataset, calibration, user_conf, model_card) and model files
on the model axis are relative to the file.
"""

from __future__ import annotations

import itertools
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from backends.options import RECIPE_OPTIONS
from harness.core.errors import UsageError
from harness.core.model_source import CALLABLE_PATTERN, looks_like_source
from harness.core.records import CELL_KEYS, cell_of
from harness.measure.config import field_types, is_axis, options

MATRIX_DIR = Path(__file__).resolve().parent / "matrices"
# the sweep's own keys: of the whole sweep ([options] only), and how it treats a cell
SWEEP_OPTIONS: dict[str, tuple[type, ...]] = {"repeat": (int,), "cooldown": (int, float)}
CELL_OPTIONS: dict[str, tuple[type, ...]] = {"cell_timeout": (int, float)}


def _toml_types(annotation) -> tuple[type, ...]:
    """What TOML values a RunConfig field's annotation accepts (paths are strings, and a
    float takes an integer)."""
    members = [t for t in typing.get_args(annotation) if t is not type(None)] or [annotation]
    accepted = {str if t is Path else t for t in members}
    return tuple(sorted(accepted | ({int} if float in accepted else set()), key=str))


def axes() -> dict[str, tuple[str, ...]]:
    """The axes a matrix multiplies, each with its choices: RunConfig's axis fields, their
    choices read from the registries now (a model registered later is a choice too)."""
    return {f.name: f.metadata["option"].choices() for f in options() if is_axis(f)}


def option_types() -> dict[str, tuple[type, ...]]:
    """Every [options] key with the TOML types it takes."""
    types = field_types()
    return {**{f.name: _toml_types(types[f.name]) for f in options()
               if f.metadata["option"].matrix and not is_axis(f)},
            **{name: (option.type,) for name, option in RECIPE_OPTIONS.items()},
            **SWEEP_OPTIONS, **CELL_OPTIONS}


PATH_OPTIONS = tuple(f.name for f in options() if f.metadata["option"].path)
TOP_LEVEL = ("description", "axes", "options", "vary", "exclude", "extra")


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: the axes' values and the options it runs with."""

    model: str
    backend: str
    precision: str
    scenario: str
    mode: str
    options: tuple[tuple[str, object], ...] = ()

    def run_options(self) -> dict:
        """What `edgebench run` takes for this cell."""
        return {**dict(zip(CELL_KEYS, cell_of(self), strict=True)),
                **{k: v for k, v in self.options if k not in CELL_OPTIONS}}

    @property
    def timeout_s(self) -> float | None:
        return dict(self.options).get("cell_timeout")

    def values(self) -> dict[str, str]:
        """Every key of the cell, axes and options, spelled as a selection compares it."""
        return {k: cell_value(v) for k, v in (*self.run_options().items(), *self.options)}

    def matches(self, wanted: dict[str, str]) -> bool:
        values = self.values()
        return all(values.get(key) == value for key, value in wanted.items())

    @property
    def label(self) -> str:
        """The axes, and the recipe options that make it differ (`quantizer=adaround`)."""
        return " ".join([*cell_of(self), *(f"{k}={v}" for k, v in self.options
                                           if k in RECIPE_OPTIONS)])


@dataclass
class Matrix:
    name: str
    path: Path | None
    cells: list[Cell]
    repeat: int = 1
    cooldown_s: float = 0.0
    description: str = ""
    options: dict = field(default_factory=dict)


class _Source:
    """A matrix file's text, to point an error at its line."""

    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, text.splitlines()

    def line_of(self, key: str, value: object = None) -> int:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=" if value is None
                             else rf"^\s*{re.escape(key)}\s*=.*{re.escape(repr_toml(value))}")
        for number, line in enumerate(self.lines, start=1):
            if pattern.search(line):
                return number
        if value is not None:  # a value on a continuation line of an array
            for number, line in enumerate(self.lines, start=1):
                if repr_toml(value) in line:
                    return number
        return 0

    def error(self, message: str, key: str, value: object = None) -> UsageError:
        line = self.line_of(key, value)
        where = f"{self.path}:{line}" if line else str(self.path)
        return UsageError(f"{where}: {message}")


def repr_toml(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() \
        if isinstance(value, bool) else str(value)


def find_matrix(name_or_path: str) -> Path:
    """A path to a .toml file, or the name of one in harness/study/matrices/ ('demo')."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(f"no such matrix file: {path}")
        return path
    shipped = MATRIX_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in MATRIX_DIR.glob("*.toml"))
    raise UsageError(f"unknown sweep {name_or_path!r}: not a file, and not one of the shipped "
                     f"matrices: {', '.join(names)} (harness/study/matrices/*.toml)")


def load_matrix(name_or_path: str) -> Matrix:
    path = find_matrix(name_or_path)
    text = path.read_text()
    source = _Source(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key not in TOP_LEVEL:
            raise source.error(f"unknown key {key!r}; a matrix has: {', '.join(TOP_LEVEL)}",
                               key)
    options = _options(data.get("options", {}), source, path.parent)
    choices = axes()
    given = {key: _relative_models(key, values, path.parent)
             for key, values in data.get("axes", {}).items()}
    for key, values in given.items():
        _check_axis(key, values if isinstance(values, list) else [values], source, choices)
    missing = [key for key in choices if key not in given] if given else []
    if missing:
        raise source.error(f"[axes] lacks {', '.join(missing)}; give each of: "
                           f"{', '.join(choices)}", "axes")
    exclusions = data.get("exclude", [])
    for exclusion in exclusions:
        for key, value in exclusion.items():
            _check_axis(key, [value], source, choices)
    fixed = tuple(sorted((k, v) for k, v in options.items() if k not in SWEEP_OPTIONS))
    cells = []
    if given:
        lists = [given[key] if isinstance(given[key], list) else [given[key]]
                 for key in choices]
        cells = [Cell(*values, options=fixed) for values in itertools.product(*lists)]
    for vary in data.get("vary", []):
        cells += _varied(cells, vary, source, choices, path.parent)
    cells = [cell for cell in cells if not any(
        cell.matches({k: cell_value(v) for k, v in e.items()}) for e in exclusions)]
    for extra in data.get("extra", []):
        extra = {key: _relative_models(key, value, path.parent) for key, value in extra.items()}
        lacking = [key for key in choices if key not in extra]
        if lacking:
            raise source.error(f"an [[extra]] cell lacks {', '.join(lacking)}", "extra")
        for key in choices:
            _check_axis(key, [extra[key]], source, choices)
        own = _options({k: v for k, v in extra.items() if k not in choices}, source,
                       path.parent)
        merged = {**dict(fixed), **{k: v for k, v in own.items() if k not in SWEEP_OPTIONS}}
        cells.append(Cell(*(extra[key] for key in choices),
                          options=tuple(sorted(merged.items()))))
    if not cells:
        raise UsageError(f"{path}: the matrix has no cells (give [axes] or [[extra]] cells)")
    return Matrix(path.stem, path, _unique(cells), int(options.get("repeat", 1)),
                  float(options.get("cooldown", 0)), str(data.get("description", "")),
                  options)


def _varied(cells: list[Cell], vary: dict, source: _Source,
            choices: dict[str, tuple[str, ...]], base: Path) -> list[Cell]:
    """A [[vary]] table's cells: each cell its axis keys select, again once per
    combination of its option lists (`quantizer = ["entropy", "adaround"]`)."""
    selects = {key: value if isinstance(value, list) else [value]
               for key, value in vary.items() if key in choices}
    lists = {key: value for key, value in vary.items() if key not in choices}
    for key, values in selects.items():
        _check_axis(key, values, source, choices)
    single = [key for key, value in lists.items() if not (isinstance(value, list) and value)]
    if not lists or single:
        raise source.error("a [[vary]] table needs an option with a list of values to run "
                           "each selected cell with (e.g. quantizer = [\"entropy\"])",
                           single[0] if single else "vary")
    combinations = [dict(zip(lists, values, strict=True))
                    for values in itertools.product(*lists.values())]
    for combination in combinations:
        _options(combination, source, base)  # known options, right types
    varied = []
    for cell in cells:
        if all(cell_value(getattr(cell, key)) in map(cell_value, values)
               for key, values in selects.items()):
            for combination in combinations:
                merged = {**dict(cell.options), **_options(combination, source, base)}
                varied.append(Cell(*cell_of(cell), options=tuple(sorted(merged.items()))))
    return varied


def _relative_models(key: str, values, base: Path):
    """A model file named in a matrix is relative to the matrix file (a zoo name or a
    callable is left as it is)."""
    if key != "model":
        return values

    def located(value):
        if isinstance(value, str) and looks_like_source(value) and \
                not CALLABLE_PATTERN.match(value) and not Path(value).is_absolute():
            return str((base / value).resolve())
        return value

    return [located(v) for v in values] if isinstance(values, list) else located(values)


def _unique(cells: list[Cell]) -> list[Cell]:
    return list(dict.fromkeys(cells))


def _check_axis(key: str, values: list, source: _Source,
                choices: dict[str, tuple[str, ...]]) -> None:
    if key not in choices:
        raise source.error(f"unknown axis {key!r}; choose from: {', '.join(choices)}", key)
    accepts = {f.name: f.metadata["option"].accepts for f in options()}[key]
    for value in values:
        if not accepts(value):
            raise source.error(f"unknown {key} {value!r}; choose one of: "
                               f"{', '.join(choices[key])}", key, value)


def _options(options: dict, source: _Source, base: Path) -> dict:
    checked, types = {}, option_types()
    for key, value in options.items():
        if key not in types:
            raise source.error(f"unknown option {key!r}; choose from: {', '.join(types)}",
                               key)
        if not isinstance(value, types[key]) or (isinstance(value, bool)
                                                 and bool not in types[key]):
            raise source.error(f"option {key} = {value!r} has the wrong type", key)
        if key in PATH_OPTIONS and value != "synthetic" and not Path(value).is_absolute():
            value = str((base / value).resolve())
        checked[key] = value
    if checked.get("repeat", 1) < 1:
        raise source.error("repeat must be at least 1", "repeat")
    return checked


def cell_value(value: object) -> str:
    """A cell's value as a selection compares it: TOML's spelling (true, 2, 1.5, "x")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Selection:
    """Which cells of a matrix to run: `--only` and `--exclude` as understood.

    Several values of one key (repeated, or comma-separated) keep a cell that has any of
    them; different keys must all match. `--exclude` uses the same rules and drops what it
    matches after `--only` has kept its cells.
    """

    only: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, only: list[str], exclude: list[str], matrix: Matrix) -> Selection:
        return cls(_filters("--only", only, matrix), _filters("--exclude", exclude, matrix))

    def keeps(self, cell: Cell) -> bool:
        values = cell.values()
        return _match(self.only, values) and not (self.exclude and _match(self.exclude, values))

    def cells(self, matrix: Matrix) -> list[Cell]:
        """The matrix's cells this selection keeps; none kept is an error."""
        kept = [cell for cell in matrix.cells if self.keeps(cell)]
        if not kept:
            raise UsageError(f"{self.describe()} leaves none of the {len(matrix.cells)} cells "
                             f"of {matrix.name}: nothing to run")
        return kept

    def describe(self) -> str:
        words = [f"{flag} {key}={','.join(values)}"
                 for flag, filters in (("--only", self.only), ("--exclude", self.exclude))
                 for key, values in filters]
        return " ".join(words) or "every cell"

    def __bool__(self) -> bool:
        return bool(self.only or self.exclude)


def _match(filters: tuple[tuple[str, tuple[str, ...]], ...], values: dict[str, str]) -> bool:
    return all(values.get(key) in wanted for key, wanted in filters)


def _filters(flag: str, items: list[str], matrix: Matrix) -> tuple:
    """`KEY=VALUE[,VALUE...]` items into (key, values) pairs, keys in first-seen order;
    a key or value that is not a choice is one line naming the choices."""
    wanted: dict[str, list[str]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        keys = [*axes(), *option_types()]
        if not sep or key not in keys:
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE with KEY one of: "
                             f"{', '.join(keys)}")
        values = [v.strip() for v in text.split(",")]
        choices = _choices(key, matrix)
        for value in values:
            if not choices:
                raise UsageError(f"{flag} {key}={value}: no cell of {matrix.name} sets {key}")
            if value not in choices:
                where = "" if key in axes() else f" in {matrix.name}"
                raise UsageError(f"{flag} {key}={value}: unknown {key} {value!r}; choose one "
                                 f"of{where}: {', '.join(choices)}")
        wanted.setdefault(key, [])
        wanted[key] += [v for v in values if v not in wanted[key]]
    return tuple((key, tuple(values)) for key, values in wanted.items())


def _choices(key: str, matrix: Matrix) -> list[str]:
    """An axis's registered names (and the matrix's own models); an option's values in
    this matrix's cells."""
    if key in axes():
        return list(dict.fromkeys([*axes()[key], *(getattr(c, key) for c in matrix.cells)]))
    return sorted({value for cell in matrix.cells for k, value in cell.values().items()
                   if k == key})
