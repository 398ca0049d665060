"""The `edgebench` command: info, run, sweep, prepare, report, fleet, ..."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback
import typing
from pathlib import Path

import harness
from backends.options import RECIPE_OPTIONS
from harness.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, EdgebenchError, UsageError
from harness.core.progress import say
from harness.measure.config import (
    ANSWER_OPTION,
    RunConfig,
    field_types,
    flag,
    is_axis,
    options,
)

# what `fleet run` sets itself for each board (the inventory names the device and, where
# a board has a meter of its own, its `energy_command`)
FLEET_SETS = ("results_dir", "artifacts", "cache_dir", "device_name", "energy_command")


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line like all of ours."""

    def error(self, message: str):
        say(f"edgebench: error: {message} (see 'edgebench --help')")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    # Choices and ranges are validated by the registries and RunConfig, not argparse, so
    # each rule lives in one place and an unknown name gets the list of what exists.
    parser = _Parser(prog="edgebench", description=harness.__doc__)
    parser.add_argument("--version", action="version", version=harness.__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("info", help="machine, ISA flags, installed backends and versions")
    schema = commands.add_parser("schema", help="the JSON Schema of result.json and failed.json")
    schema.add_argument("file", nargs="?", choices=("result.json", "failed.json"),
                        help="just this file's schema (default: both, by file name)")

    inspect = commands.add_parser(
        "inspect", help="what edgebench reads from a model and what it assumes, as a model "
        "card (TOML) to save and edit, and which backends and precisions it reaches")
    inspect.add_argument("model", help="a model file (.pt2, .onnx, .tflite, .xml), "
                         "package.module:callable, or a zoo name")
    inspect.add_argument("--shape", action="append", metavar="NAME=DIMS",
                         help="an input's shape, NAME=1x3x640x640 (repeatable), over the "
                              "file's and the card's")
    inspect.add_argument("--model-card", type=Path, metavar="FILE",
                         help="a card to start from (default: <model>.toml beside it)")

    run = commands.add_parser("run", help="benchmark one model/backend/precision/scenario")
    _add_config_options(run, "run")
    # `sweep` reads each child's answer (run folder or error) from this JSON file
    run.add_argument(ANSWER_OPTION, type=Path, help=argparse.SUPPRESS)

    report = commands.add_parser(
        "report", help="tables and plots from result.json files (several devices at once)")
    report.add_argument("folders", nargs="+", type=Path,
                        help="results folders, searched recursively (e.g. results/ pi-results/)")
    report.add_argument("--out", type=Path, default=Path("report"),
                        help="where report.html, the PNGs, results.csv and summary.md go")

    submission = commands.add_parser(
        "submission", help="an MLPerf Inference submission tree (open division) from "
        "runs already made, its audit runs verified and its accuracy logs truncated by "
        "MLCommons' own scripts; --check runs MLCommons' checker on it")
    submission.add_argument("folders", nargs="+", type=Path,
                            help="results folders, searched recursively")
    submission.add_argument("--out", type=Path, required=True,
                            help="a new folder for the tree (never overwritten)")
    submission.add_argument("--submitter", required=True, help="your organisation's name")
    submission.add_argument("--system-facts", type=Path, metavar="FILE",
                            help="what no machine can tell (TOML or JSON): status, cooling, "
                            "host_storage_type, host_memory_configuration, ...")
    submission.add_argument("--mlperf-inference", type=Path, metavar="DIR",
                            help="MLCommons' inference checkout (default "
                            "$EDGEBENCH_MLPERF_INFERENCE)")
    submission.add_argument("--allow-partial", action="store_true",
                            help="write the tree even where runs fall short; the report "
                            "names each gap and the checker error it brings")
    submission.add_argument("--check", action="store_true",
                            help="then run MLCommons' submission checker on the tree")

    profile = commands.add_parser(
        "profile", help="one --profile run's per-operator profile: time per layer class "
        "and the slowest layers, with the kernels the runtime chose")
    profile.add_argument("run_dir", type=Path, help="a run folder holding result.json")

    sweep = commands.add_parser(
        "sweep", help="run every cell of a matrix (harness/study/matrices/*.toml, e.g. demo "
        "or study), each in its own process; resumable")
    sweep.add_argument("name", help="a matrix file, or a shipped one: demo, study, study-quick")
    sweep.add_argument("--dry-run", action="store_true",
                       help="list the runs and the estimated time; run nothing")
    _add_selection_options(sweep)
    sweep.add_argument("--retry-failed", action="store_true",
                       help="run again the cells that failed in an earlier attempt")
    sweep.add_argument("--cell-timeout", type=float, metavar="S",
                       help="seconds before a cell is killed (default: from its minimum "
                       "duration plus conversion time)")
    sweep.add_argument("--repeat", type=int, metavar="N",
                       help="run each performance cell N times, interleaved")
    sweep.add_argument("--cooldown", type=float, metavar="S",
                       help="pause between cells, up to S seconds (until the board's "
                       "temperature is back where it started, where it has a sensor)")
    sweep.add_argument("--target-ci", type=float, metavar="PCT",
                       help="after the planned repeats, repeat each performance cell whose "
                       "95%% interval of the median is wider than PCT%% of the median, "
                       "interleaved, until it is not (or --budget is spent)")
    sweep.add_argument("--budget", type=float, metavar="MIN",
                       help="with --target-ci: start no repeat that would take the sweep's "
                       "runs (resumed ones included) past MIN minutes")
    sweep.add_argument("--wait-quiet", type=float, metavar="S", default=0.0,
                       help="before each cell, wait up to S seconds for other processes "
                       "to leave the CPU (each run records what else ran during it)")
    _add_config_options(sweep, "sweep")

    prepare = commands.add_parser(
        "prepare", help="build every artifact a matrix needs into a portable folder, to run "
        "on a board with --artifacts (only the runtimes installed there)")
    prepare.add_argument("name", help="a matrix file, or a shipped one: demo, study, ...")
    prepare.add_argument("--out", type=Path, required=True, help="the folder to fill")
    _add_selection_options(prepare)
    _add_config_options(prepare, "prepare")

    fleet = commands.add_parser(
        "fleet", help="a matrix on every board of an Ansible inventory over SSH: install, "
        "prepare, run, bring the results home, report (pip install 'edgebench[fleet]')")
    fleet_commands = fleet.add_subparsers(dest="fleet_command", required=True,
                                          parser_class=_Parser)
    fleet_run = fleet_commands.add_parser(
        "run", help="prepare on this host, install and run on each board, fetch the "
        "results into DIR/<device>/, report; run again to resume")
    fleet_status = fleet_commands.add_parser(
        "status", help="per board: reachable, sweep running or finished, cells done / "
        "failed / left, temperature and throttling")
    for command in (fleet_run, fleet_status):
        command.add_argument("inventory", type=Path, help="an Ansible inventory file")
    fleet_run.add_argument("matrix", help="a matrix file, or a shipped one: demo, study, ...")
    fleet_status.add_argument("--matrix", default=None,
                              help="the matrix of the fleet run (default: as fleet.json says)")
    for command in (fleet_run, fleet_status):
        command.add_argument("--results", type=Path, required=True, metavar="DIR",
                             help="where each board's results land, in DIR/<device>/")
        command.add_argument("--limit", action="append", metavar="GROUP_OR_HOST",
                             help="only these groups or hosts of the inventory (repeat)")
    fleet_run.add_argument("--poll", type=float, default=30.0, metavar="S",
                           help="seconds between fetches while the boards run")
    fleet_run.add_argument("--lost-wait", type=float, default=300.0, metavar="S",
                           help="how long a board that dropped off is waited for once the "
                           "others are done (it resumes on the next 'fleet run')")
    # the sweep's options, for the host's prepare and every board's sweep alike; where
    # results, artifacts and the cache go and the device's name are the fleet's to set
    _add_config_options(fleet_run, "sweep", leave_out=FLEET_SETS)
    return parser


def _add_config_options(command: argparse.ArgumentParser, which: str,
                        leave_out: tuple[str, ...] = ()) -> None:
    """`run` takes every RunConfig option with its default; `sweep` and `prepare` take
    those marked for them, unset unless given, so that the matrix's values stand."""
    types = field_types()
    for f in options():
        opt = f.metadata["option"]
        if (which != "run" and not getattr(opt, which)) or f.name in leave_out:
            continue
        # a value a matrix may set stays unset unless given, so that the matrix's stands
        default = f.default if which == "run" or not opt.matrix else None
        kind = _argument_type(types[f.name])
        help_text = argparse.SUPPRESS if opt.hidden else _help(opt.help, default, opt.choices)
        if kind is bool:
            command.add_argument(flag(f.name), dest=f.name, action="store_true",
                                 help=help_text)
        elif opt.repeatable:
            command.add_argument(flag(f.name), dest=f.name, action="append", default=None,
                                 metavar=opt.metavar, help=help_text)
        else:
            command.add_argument(flag(f.name), dest=f.name, type=kind, default=default,
                                 required=which == "run" and f.default is None and is_axis(f),
                                 metavar=opt.metavar, help=help_text)
    for name, recipe_option in RECIPE_OPTIONS.items():
        command.add_argument(flag(name), dest=name, type=recipe_option.type,
                             help=_help(recipe_option.help, recipe_option.default,
                                        lambda o=recipe_option: tuple(map(str, o.choices or ()))))


def _argument_type(annotation) -> type:
    """argparse's type for a field's annotation: the non-None member, str for unions
    such as `int | str` (parsed by RunConfig.validate)."""
    members = [t for t in typing.get_args(annotation) if t is not type(None)] or [annotation]
    return members[0] if len(members) == 1 else str


def _help(text: str, default, choices) -> str:
    listed = f"; one of: {', '.join(choices())}" if choices and choices() else ""
    shown = "" if default in (None, False) else f" (default: {default})"
    return f"{text}{listed}{shown}".replace("%", "%%")


def _add_selection_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--only", action="append", default=[], metavar="KEY=VALUE[,VALUE]",
                         help="keep the cells with one of these values; repeat a key for "
                         "more values, different keys must all match (e.g. "
                         "--only backend=onnxruntime,tflite --only precision=fp32)")
    command.add_argument("--exclude", action="append", default=[], metavar="KEY=VALUE[,VALUE]",
                         help="then drop the cells matching these, by the same rules")


# Commands import what they run when they run (start-up speed): `edgebench report` never
# loads a runtime, `--help` no model.
def cmd_info(_args) -> int:
    from backends import BACKENDS, get_backend_class, installed_version
    from harness.core.artifacts import default_cache_dir
    from harness.core.energy import probe_of, source_states
    from harness.core.model_source import SOURCE_KINDS
    from harness.core.system_info import describe_system
    from harness.core.weights import checkpoint_dir

    system = describe_system()
    print(f"edgebench {harness.__version__}")
    print(f"cpu:       {system['cpu']} ({system['arch']})")
    print(f"cores:     {system['cores_physical']} physical, {system['cores_logical']} logical")
    print(f"memory:    {system['memory_gb']} GiB")
    print(f"isa flags: {' '.join(system['isa_flags']) or '(none of the INT8/FP16-relevant ones)'}")
    if system["amx"]:
        print(f"amx:       {system['amx']}")
    print(f"os:        {system['os']}, Python {system['python']}")
    print("backends (precisions this machine runs; the others with the reason):")
    for name in BACKENDS:
        version = installed_version(name)
        print(f"  {name:<12} {version or 'not installed'}")
        if version is None:
            continue
        backend = get_backend_class(name)
        runs = [p for p in backend.precisions() if not backend.unsupported_reason(p)]
        print(f"    runs:        {', '.join(runs)}")
        if cannot_build := backend.cannot_build_reason():
            print(f"    builds:      nothing here, runs prepared artifacts only: {cannot_build}")
        for precision in backend.precisions():
            if precision not in runs:
                print(f"    unsupported: {precision}: {backend.unsupported_reason(precision)}")
        for precision in backend.precisions():
            recipe = backend.recipe(precision)
            if recipe.quantizer is None:
                continue
            made = []
            for quantizer in recipe.quantizer_names():
                made.append(quantizer + (" (default)" if quantizer == recipe.quantizer else ""))
                made_by = recipe.for_quantizer(name, quantizer)
                why = made_by.unsupported_reason() or made_by.build_refusal()
                if why:  # the reason's first clause: the whole is under `unsupported`
                    made[-1] += f" [not here: {why.split(':')[0]}]"
            print(f"    quantizers of {precision}: {', '.join(made)}")
    print("model sources (--model FILE or module:callable; 'edgebench inspect' says more):")
    for kind_name, kind in SOURCE_KINDS.items():
        reached = []
        for name in BACKENDS:
            if installed_version(name) is None:
                continue
            backend = get_backend_class(name)
            precisions = [p for p in backend.precisions()
                          if not backend.recipe(p).source_refusal(name, kind_name)]
            if precisions:
                reached.append(f"{name} ({', '.join(precisions)})")
        suffixes = f" ({', '.join(kind.suffixes)})" if kind.suffixes else ""
        print(f"  {kind_name}{suffixes}: {'; '.join(reached) or 'no installed backend'}")
    print("energy sources (tried in this order; the first available one measures):")
    for name, state in source_states(probe_of()).items():
        print(f"  {name:<15} {state}")
    print(f"artifact cache:   {default_cache_dir()}")
    print(f"checkpoint cache: {checkpoint_dir()}")
    return 0


def cmd_inspect(args) -> int:
    from backends import BACKENDS, get_backend_class, installed_version
    from harness.core.model_card import card_toml, joined_shapes
    from harness.core.user_models import resolve_model

    spec = resolve_model(args.model, args.model_card, joined_shapes(args.shape),
                         allow_open=True)
    print(f"# edgebench inspect {args.model}: what the model file says, and '# default' "
          "where edgebench assumed; save as <model>.toml beside it and edit")
    if spec.source is not None:
        print(f"# {spec.source.file_name}: {spec.source.kind.description}, sha256 "
              f"{spec.source.digest}; in results as {spec.name}")
    print(card_toml(spec.card), end="")
    print("\n# where it runs (precisions this machine runs; the others with the reason):")
    for name in BACKENDS:
        if installed_version(name) is None:
            print(f"#   {name}: not installed")
            continue
        backend = get_backend_class(name)
        reasons = {p: backend.unsupported_reason(p, spec.source_kind)
                   for p in backend.precisions()}
        print(f"#   {name}: {', '.join(p for p, r in reasons.items() if not r) or 'nothing'}")
        for precision, reason in reasons.items():
            if reason:
                print(f"#     {precision}: {reason}")
    return 0


def _config_values(args) -> dict:
    """The RunConfig values and recipe options this command line holds."""
    keys = {f.name for f in options()} | set(RECIPE_OPTIONS)
    return {key: value for key, value in vars(args).items() if key in keys}


def _overrides(args) -> dict:
    """What `sweep` or `prepare` was given over the matrix's values."""
    return {key: value for key, value in _config_values(args).items()
            if value is not None and value is not False}


def cmd_run(args) -> int:
    from harness.measure.runner import run_benchmark
    from reports.summary import format_run

    run_dir, record = run_benchmark(RunConfig.from_options(_config_values(args)))
    print(format_run(record, run_dir))
    if args.answer_file:
        from harness.study.fresh_process import write_answer

        write_answer(args.answer_file, run_dir=run_dir)
    return 0


def cmd_sweep(args) -> int:
    from harness.study.matrix import Selection, load_matrix
    from harness.study.sweep import (
        Manifest,
        SweepPolicy,
        describe_selection,
        dry_run,
        format_estimates,
        plan,
        run_sweep,
    )
    from reports.summary import format_table

    matrix = load_matrix(args.name)
    if args.repeat is not None and args.repeat < 1:
        raise UsageError(f"--repeat must be at least 1, got {args.repeat}")
    if args.cell_timeout is not None and args.cell_timeout <= 0:
        raise UsageError(f"--cell-timeout must be positive seconds, got {args.cell_timeout}")
    selection = Selection.parse(args.only, args.exclude, matrix)
    planned = plan(matrix, _overrides(args), selection, args.repeat, args.target_ci)
    if args.dry_run:
        print(describe_selection(matrix, selection, planned) + "\n")
        return dry_run(planned, Manifest.open(args.results_dir, matrix))
    if selection:
        say(describe_selection(matrix, selection, planned))
    if args.wait_quiet < 0:
        raise UsageError(f"--wait-quiet must be 0 or more seconds, got {args.wait_quiet}")
    if args.target_ci is not None and args.target_ci <= 0:
        raise UsageError(f"--target-ci must be a positive percentage, got {args.target_ci}")
    if args.budget is not None and (args.budget <= 0 or args.target_ci is None):
        raise UsageError("--budget MIN is a positive number of minutes, for --target-ci PCT")
    outcomes = run_sweep(matrix, planned, args.results_dir, SweepPolicy(
        args.retry_failed, args.cell_timeout, args.cooldown, args.wait_quiet,
        args.target_ci, None if args.budget is None else args.budget * 60))
    print()
    print(format_table([(o.record, o.run_dir, o.error, o.elapsed_s,
                         (o.run.cell.model, o.run.cell.backend, o.run.cell.precision,
                          o.run.cell.scenario)) for o in outcomes]))
    print("\n" + format_estimates(outcomes))
    warnings = sorted({w for o in outcomes if o.record for w in o.record.warnings})
    for warning in warnings:
        print(f"\nWARNING: {warning}")
    failed = [o for o in outcomes if o.record is None]
    for outcome in failed:
        print(f"\nFAILED: {outcome.run.label}: {outcome.error}"
              + (f" ({outcome.run_dir})" if outcome.run_dir else ""))
    print(f"\nresults are in {args.results_dir.resolve()}/ (one folder per run: result.json "
          "and LoadGen's logs; failed.json for a failed cell)")
    return 0 if not failed else 1


def cmd_prepare(args) -> int:
    from harness.core.prepared import CHECKSUMS, INDEX
    from harness.study.matrix import Selection, load_matrix
    from harness.study.prepare import prepare
    from harness.study.sweep import describe_selection, plan

    matrix = load_matrix(args.name)
    selection = Selection.parse(args.only, args.exclude, matrix)
    planned = plan(matrix, _overrides(args), selection, 1)
    if selection:
        say(describe_selection(matrix, selection, planned))
    entries = prepare(planned, args.out)
    print(f"prepared {len(entries)} artifacts in {args.out.resolve()}/ ({INDEX}, {CHECKSUMS}); "
          f"on the board: edgebench sweep {args.name} --artifacts DIR")
    return 0


def cmd_fleet(args) -> int:
    from harness.fleet.run import Fleet, fleet_run, fleet_status

    if args.fleet_command == "status":
        fleet = Fleet.last_run(args.inventory, args.results, args.limit) \
            if args.matrix is None else Fleet(args.inventory, args.matrix, args.results,
                                               args.limit)
        print(fleet_status(fleet))
        return 0
    if args.poll <= 0 or args.lost_wait < 0:
        raise UsageError("--poll is a positive number of seconds, --lost-wait 0 or more")
    fleet = Fleet(args.inventory, args.matrix, args.results, args.limit,
                  overrides=_overrides(args))
    return fleet_run(fleet, args.poll, args.lost_wait)


def cmd_schema(args) -> int:
    from harness.core.records import json_schemas

    schemas = json_schemas()
    print(json.dumps(schemas[args.file] if args.file else schemas, indent=2))
    return 0


def cmd_report(args) -> int:
    from reports.report import write_report

    report = write_report(args.folders, args.out)
    for warning in report.warnings:
        say(f"WARNING: {warning}")
    print(f"report:  {report.html.resolve()}")
    print(f"tables:  {report.markdown.resolve()}, {report.csv.resolve()}")
    print(f"figures: {len(report.figures)} PNG files in {args.out.resolve()}/")
    return 0


def cmd_submission(args) -> int:
    from reports.submission.mlcommons_tools import checker_csv, checker_verdict, run_checker
    from reports.submission.tree import build
    from scenarios.mlcommons import inference_checkout

    built = build(args.folders, args.out, args.submitter, args.system_facts,
                  args.mlperf_inference, args.allow_partial)
    print("\n".join(built.report_lines))
    if not args.check:
        return 0
    checked = run_checker(inference_checkout(args.mlperf_inference), built.root,
                          checker_csv(built.root))
    print("MLCommons' submission checker:\n  " + "\n  ".join(checker_verdict(checked)[-40:]))
    return 0 if checked.passed else 1


def cmd_profile(args) -> int:
    from harness.core.records import RESULT_FILE, ResultRecord
    from reports.profiles import run_text

    path = args.run_dir / RESULT_FILE
    if not path.is_file():
        raise UsageError(f"no {RESULT_FILE} in {args.run_dir}: pass a run folder (as "
                         "'edgebench run' printed it)")
    record, _ = ResultRecord.read(path)
    if record.metrics.profile is None:
        why = f": {record.unsupported.reason}" if record.unsupported else ""
        raise UsageError(f"{args.run_dir} holds no profile{why} (run it with --profile, "
                         "in performance mode)")
    print(run_text(record))
    return 0


def _answer(args, error: str, exit_code: int) -> None:
    """A failed `run` still answers its parent `sweep`, if it has one."""
    if getattr(args, "answer_file", None):
        from harness.study.fresh_process import write_answer

        write_answer(args.answer_file, error=error, exit_code=exit_code)


def _raise_interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # Explicit: a process started in the background inherits SIGINT ignored, and Python
    # then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    handler = {"info": cmd_info, "inspect": cmd_inspect, "run": cmd_run, "sweep": cmd_sweep,
               "prepare": cmd_prepare, "fleet": cmd_fleet, "profile": cmd_profile,
               "report": cmd_report, "schema": cmd_schema,
               "submission": cmd_submission}[args.command]
    try:
        return handler(args)
    except BrokenPipeError:  # `edgebench schema | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        say("edgebench: interrupted; the unfinished run was discarded")
    except EdgebenchError as exc:
        say(f"edgebench: error: {exc}")
        _answer(args, f"{exc}", EXIT_USAGE)
        return EXIT_USAGE
    except Exception as exc:  # a bug: say so in one line, traceback on request
        if os.environ.get("EDGEBENCH_DEBUG"):
            traceback.print_exc()
        say(f"edgebench: internal error: {type(exc).__name__}: {exc} "
            "(set EDGEBENCH_DEBUG=1 for the traceback)")
        _answer(args, f"internal error: {type(exc).__name__}: {exc}", 1)
        return 1
    # Interrupted: LoadGen may still be running in C++ on its own thread, which
    # cannot be stopped; leave without waiting for it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
