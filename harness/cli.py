"""The `edgebench` command: info, run, sweep."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

import harness
from harness.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, EdgebenchError, UsageError
from harness.core.progress import say


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line like all of ours."""

    def error(self, message: str):
        say(f"edgebench: error: {message} (see 'edgebench --help')")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    # Choices and ranges are validated by the registries and the runner, not argparse,
    # so each rule lives in one place and an unknown name gets the list of what exists.
    parser = _Parser(prog="edgebench", description=harness.__doc__)
    parser.add_argument("--version", action="version", version=harness.__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    commands.add_parser("info", help="machine, ISA flags, installed backends and versions")

    run = commands.add_parser("run", help="benchmark one model/backend/precision/scenario")
    run.add_argument("--model", required=True, help="mobilenet_v2 | vgg19 | densenet121")
    run.add_argument("--backend", default="onnxruntime")
    run.add_argument("--precision", default="fp32",
                     help="fp32 | fp16 | bf16 | int8-static | int8-dynamic")
    run.add_argument("--scenario", default="single-stream",
                     help="single-stream | multi-stream | offline")
    run.add_argument("--mode", default="performance", help="performance | accuracy")
    run.add_argument("--quick", action="store_true",
                     help="short LoadGen minimums (seconds, not minutes); recorded in results")
    run.add_argument("--duration", type=float,
                     help="LoadGen's minimum duration in seconds (default: MLPerf's 600)")
    run.add_argument("--min-queries", type=int,
                     help="LoadGen's minimum query count (default: MLPerf's for the scenario)")
    run.add_argument("--user-conf", type=Path,
                     help="a LoadGen user.conf (e.g. '*.Offline.min_duration = 60000')")
    run.add_argument("--weights", default="auto",
                     help="auto | random | torchvision | PATH to a checkpoint (default auto)")
    run.add_argument("--dataset", default=None,
                     help="'synthetic' (default for performance) or an ImageNet-layout folder")
    run.add_argument("--count", type=int, help="use only the first N samples")
    run.add_argument("--threads", type=int, help="default: physical cores")
    _add_device_option(run)
    run.add_argument("--max-batch", default="auto", type=_max_batch,
                     help="Offline batch size, or 'auto' (default): the fastest of 1, 2, 4, "
                     "8, 16, 32 in a short probe, recorded with the probe's figures")
    run.add_argument("--results", dest="results_dir", type=Path, default=Path("results"),
                     help="results folder (default results/)")
    run.add_argument("--cache-dir", type=Path, help="artifact cache (default ~/.cache/edgebench)")
    _add_artifacts_option(run)
    run.add_argument("--save-outputs", action="store_true",
                     help="accuracy mode: keep every sample's logits in outputs.npy")
    run.add_argument("--keep-trace", action="store_true",
                     help="keep LoadGen's mlperf_log_trace.json (large on full runs)")
    _add_calibration_options(run)
    # `sweep` reads each child's answer (run folder or error) from this JSON file
    run.add_argument("--answer-file", type=Path, help=argparse.SUPPRESS)
    # `sweep` tags each run, to find it again after an interruption and group repeats
    run.add_argument("--sweep-tag", help=argparse.SUPPRESS)

    report = commands.add_parser(
        "report", help="tables and plots from result.json files (several devices at once)")
    report.add_argument("folders", nargs="+", type=Path,
                        help="results folders, searched recursively (e.g. results/ pi-results/)")
    report.add_argument("--out", type=Path, default=Path("report"),
                        help="where report.html, the PNGs, results.csv and summary.md go")

    sweep = commands.add_parser(
        "sweep", help="run every cell of a matrix (scenarios/*.toml, e.g. demo or study), "
        "each in its own process; resumable")
    sweep.add_argument("name", help="a matrix file, or a shipped one: demo, study, study-quick")
    sweep.add_argument("--weights", help="override the matrix's weights")
    sweep.add_argument("--results", dest="results_dir", type=Path, default=Path("results"),
                       help="results folder; run the same sweep again with it to resume")
    sweep.add_argument("--cache-dir", type=Path)
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
    _add_device_option(sweep)
    _add_artifacts_option(sweep)
    _add_calibration_options(sweep, defaults=False)

    prepare = commands.add_parser(
        "prepare", help="build every artifact a matrix needs into a portable folder, to run "
        "on a board with --artifacts (only the runtimes installed there)")
    prepare.add_argument("name", help="a matrix file, or a shipped one: demo, study, ...")
    prepare.add_argument("--out", type=Path, required=True, help="the folder to fill")
    prepare.add_argument("--weights", help="override the matrix's weights")
    _add_selection_options(prepare)
    _add_calibration_options(prepare, defaults=False)
    return parser


def _max_batch(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--max-batch must be 'auto' or a positive integer, got {value!r}") from None


def _add_selection_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--only", action="append", default=[], metavar="KEY=VALUE[,VALUE]",
                         help="keep the cells with one of these values; repeat a key for "
                         "more values, different keys must all match (e.g. "
                         "--only backend=onnxruntime,tflite --only precision=fp32)")
    command.add_argument("--exclude", action="append", default=[], metavar="KEY=VALUE[,VALUE]",
                         help="then drop the cells matching these, by the same rules")


def _add_artifacts_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--artifacts", type=Path, help="a folder made by 'edgebench prepare' "
                         "on another machine: its artifacts are checked and used, never built")


def _add_device_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device-name", help="the device's name in results and reports "
                         "(default: hostname and board or CPU model)")


def _add_calibration_options(command: argparse.ArgumentParser, defaults: bool = True) -> None:
    """`run` gets the defaults; `sweep` leaves them to the matrix unless given."""
    command.add_argument(
        "--calibration", help="int8-static: an image folder, a text file of image paths, or "
        "'synthetic'; images shared with --dataset are left out of the evaluation")
    command.add_argument("--calibration-count", type=int, default=300 if defaults else None,
                         help="calibration images (default 300)")
    command.add_argument("--calibration-method", default="minmax" if defaults else None,
                         help="minmax | entropy | percentile (ONNX Runtime; default minmax)")
    command.add_argument("--quant-format", default=None,
                         help="u8s8 | s8s8 (ONNX Runtime int8; default: chosen from the ISA)")


def cmd_info(_args) -> int:
    from backends import BACKEND_NAMES, get_backend_class, installed_version
    from harness.core.artifacts import default_cache_dir
    from harness.core.system_info import describe_system
    from harness.core.weights import checkpoint_dir

    system = describe_system()
    print(f"edgebench {harness.__version__}")
    print(f"cpu:       {system['cpu']} ({system['arch']})")
    print(f"cores:     {system['cores_physical']} physical, {system['cores_logical']} logical")
    print(f"memory:    {system['memory_gb']} GiB")
    print(f"isa flags: {' '.join(system['isa_flags']) or '(none of the INT8/FP16-relevant ones)'}")
    print(f"os:        {system['os']}, Python {system['python']}")
    print("backends (precisions this machine runs; the others with the reason):")
    for name in BACKEND_NAMES:
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
    print(f"artifact cache:   {default_cache_dir()}")
    print(f"checkpoint cache: {checkpoint_dir()}")
    return 0


def _run_config(args, **overrides):
    from harness.measure.runner import RunConfig

    fields = {k: v for k, v in vars(args).items() if k in RunConfig.__dataclass_fields__}
    return RunConfig(**{**fields, **overrides})


def cmd_run(args) -> int:
    from harness.measure.runner import run_benchmark
    from reports.summary import format_run

    run_dir, record = run_benchmark(_run_config(args))
    print(format_run(record, run_dir))
    if args.answer_file:
        from harness.study.fresh_process import write_answer

        write_answer(args.answer_file, run_dir=run_dir)
    return 0


def cmd_sweep(args) -> int:
    from harness.study.matrix import Selection, load_matrix
    from harness.study.sweep import Manifest, describe_selection, dry_run, plan, run_sweep
    from reports.summary import format_table

    matrix = load_matrix(args.name)
    if args.repeat is not None and args.repeat < 1:
        raise UsageError(f"--repeat must be at least 1, got {args.repeat}")
    if args.cell_timeout is not None and args.cell_timeout <= 0:
        raise UsageError(f"--cell-timeout must be positive seconds, got {args.cell_timeout}")
    overrides = {"weights": args.weights, "calibration": args.calibration,
                 "calibration_count": args.calibration_count,
                 "calibration_method": args.calibration_method,
                 "quant_format": args.quant_format, "device_name": args.device_name,
                 "artifacts": args.artifacts}
    selection = Selection.parse(args.only, args.exclude, matrix)
    planned = plan(matrix, overrides, args.results_dir, args.cache_dir, selection, args.repeat)
    if args.dry_run:
        print(describe_selection(matrix, selection, planned) + "\n")
        return dry_run(planned, Manifest.open(args.results_dir, matrix))
    if selection:
        say(describe_selection(matrix, selection, planned))
    outcomes = run_sweep(matrix, planned, args.results_dir, args.retry_failed,
                         args.cell_timeout, args.cooldown)
    print()
    print(format_table([(o.record, o.run_dir, o.error, o.elapsed_s,
                         (o.run.cell.model, o.run.cell.backend, o.run.cell.precision,
                          o.run.cell.scenario)) for o in outcomes]))
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
    overrides = {"weights": args.weights, "calibration": args.calibration,
                 "calibration_count": args.calibration_count,
                 "calibration_method": args.calibration_method,
                 "quant_format": args.quant_format}
    selection = Selection.parse(args.only, args.exclude, matrix)
    planned = plan(matrix, overrides, args.out / "unused-results", None, selection, 1)
    if selection:
        say(describe_selection(matrix, selection, planned))
    entries = prepare(planned, args.out)
    print(f"prepared {len(entries)} artifacts in {args.out.resolve()}/ ({INDEX}, {CHECKSUMS}); "
          f"on the board: edgebench sweep {args.name} --artifacts DIR")
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
    handler = {"info": cmd_info, "run": cmd_run, "sweep": cmd_sweep, "prepare": cmd_prepare,
               "report": cmd_report}[args.command]
    try:
        return handler(args)
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
