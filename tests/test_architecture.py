"""The house's rules, checked: layers that point one way (import-linter), registries of one
shape whose names reach the CLI and the matrix, recipe options declared once, and no
knowledge a spec owns spelled anywhere else."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backends import BACKENDS
from backends.options import RECIPE_OPTIONS, RecipeOption
from harness.cli import build_parser
from harness.core.errors import UsageError
from harness.core.precisions import PRECISIONS
from harness.core.user_models import zoo_names
from harness.core.zoo import MODELS, ModelSpec
from harness.measure.config import RunConfig
from harness.study.matrix import axes, load_matrix, option_types
from scenarios.scenario import SCENARIOS
from tests.conftest import ROOT

PACKAGES = ("harness", "backends", "scenarios", "reports")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          timeout=120)


@pytest.fixture(scope="module")
def copied_tree(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.toml", "*.csv"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_layers_hold_and_an_upward_import_breaks_them(copied_tree):
    kept = _lint_imports(copied_tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "3 kept, 0 broken" in kept.stdout
    errors = copied_tree / "harness" / "core" / "errors.py"
    original = errors.read_text()
    try:  # the foundation reaching up to a run: the first wrong import fails the lint
        errors.write_text(original + "\nimport harness.measure.runner  # noqa\n")
        broken = _lint_imports(copied_tree)
    finally:
        errors.write_text(original)
    assert broken.returncode != 0
    assert "one-way layers BROKEN" in broken.stdout, broken.stdout


def test_reports_may_not_import_a_runtime(copied_tree):
    collect = copied_tree / "reports" / "collect.py"
    original = collect.read_text()
    try:
        collect.write_text(original + "\nimport backends.base  # noqa\n")
        broken = _lint_imports(copied_tree)
    finally:
        collect.write_text(original)
    assert "reports read result records, never a runtime or a run BROKEN" in broken.stdout


@pytest.mark.parametrize("registry", [MODELS, BACKENDS, PRECISIONS, SCENARIOS, RECIPE_OPTIONS])
def test_every_registry_has_one_shape_and_one_line_errors(registry):
    names = registry.names()
    assert names and list(registry) == list(names)
    assert registry.get(names[0]) is dict(registry.items())[names[0]]
    with pytest.raises(UsageError) as error:
        registry.get("nonesuch")
    message = str(error.value)
    assert "\n" not in message and f"unknown {registry.kind} 'nonesuch'" in message
    assert message.endswith(", ".join(names))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(names[0], registry.get(names[0]))


def test_the_cli_and_the_matrix_list_what_the_registries_hold(monkeypatch):
    spec = ModelSpec("my_net", "harness.core.zoo.mobilenet_v2:mobilenet_v2", None)
    monkeypatch.setitem(MODELS._entries, spec.name, spec)
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    unwrapped = re.sub(r"\s+", "", run_help)  # argparse wraps lines, even inside names
    for registry in (BACKENDS, PRECISIONS, SCENARIOS):
        assert ",".join(registry.names()) in unwrapped, registry.kind
    # the zoo's entries (a user's model, registered by its file, is named by the file)
    assert ",".join(zoo_names()) in unwrapped and "my_net" in zoo_names()
    assert "my_net" in run_help  # registered after import: still listed
    assert axes()["model"] == tuple(zoo_names()) and "my_net" in axes()["model"]
    assert axes()["precision"] == PRECISIONS.names()


def test_a_declared_recipe_option_reaches_cli_matrix_config_and_identity(monkeypatch,
                                                                         tmp_path):
    option = RecipeOption("block_size", int, 64, "a quantizer's block size", (32, 64, 128))
    monkeypatch.setitem(RECIPE_OPTIONS._entries, option.name, option)
    args = build_parser().parse_args(["run", "--model", "mobilenet_v2", "--block-size", "32"])
    assert args.block_size == 32
    config = RunConfig.from_options({"model": "mobilenet_v2", "block_size": 128})
    assert config.recipe_options["block_size"] == 128
    assert RunConfig(model="mobilenet_v2").recipe_options["block_size"] == 64  # its default
    assert config.identity()["block_size"] == "128"
    assert config.identity() != RunConfig(model="mobilenet_v2").identity()
    assert option_types()["block_size"] == (int,)
    matrix = tmp_path / "m.toml"
    matrix.write_text('[options]\nblock_size = 32\n[[extra]]\nmodel = "mobilenet_v2"\n'
                      'backend = "onnxruntime"\nprecision = "fp32"\nscenario = "offline"\n'
                      'mode = "performance"\n')
    assert dict(load_matrix(str(matrix)).cells[0].options)["block_size"] == 32
    with pytest.raises(UsageError, match="unknown --block-size 48; choose one of: 32, 64"):
        RunConfig.from_options({"model": "mobilenet_v2", "block_size": 48})


def test_the_published_figures_cite_the_study_and_nothing_shipped_names_an_issue():
    published = (ROOT / "reports" / "published.csv").read_text()
    assert published.count("arXiv:2303.05016") == 2
    assert "Ahn" in published and "Panda" in published
    shipped = [p for package in PACKAGES for p in (ROOT / package).rglob("*")
               if p.suffix in (".py", ".csv", ".toml") and "__pycache__" not in p.parts]
    mentions = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in shipped
                for m in re.finditer(r"(?i)\bissue \d+|issue tracker|study brief",
                                     p.read_text())]
    assert not mentions, mentions


def test_the_input_size_lives_in_the_input_config_only():
    literal = re.compile(r"(?<![\d.])224(?![\d.])")
    spelled = [f"{p.relative_to(ROOT)}:{number}" for package in PACKAGES
               for p in (ROOT / package).rglob("*.py")
               for number, line in enumerate(p.read_text().splitlines(), start=1)
               if literal.search(line.split("#")[0]) and p.name != "input_config.py"]
    assert not spelled, spelled
