"""The submission tree, laid out as MLCommons' submission_structure.md says:

    open/<submitter>/results/<system>/<benchmark>/<Scenario>/
        performance/run_1/   LoadGen's logs of the performance run
        accuracy/            the accuracy run's logs and accuracy.txt (truncated by MLCommons)
        TEST01/ TEST04/      written by MLCommons' run_verification.py from the audit runs
        measurements.json user.conf mlperf.conf README.md
    open/<submitter>/systems/<system>.json, src/, model_mapping.json

Built in a staging folder and renamed into place: an earlier tree is never overwritten,
a failed build leaves nothing half-made.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import UsageError
from harness.core.progress import say
from harness.core.records import ResultRecord, write_json_atomic, write_text_atomic
from reports.collect import find_results
from reports.submission import mlcommons_tools
from reports.submission.eligibility import Gap, gaps_of
from reports.submission.naming import (
    DIVISION,
    EDGE_SCENARIOS,
    MLPERF_BENCHMARK,
    benchmark_name,
    scenario_dir,
    system_id,
)
from reports.submission.system_desc import describe, read_facts
from scenarios.mlcommons import AUDIT_TESTS, inference_checkout
from scenarios.settings import MODES

REPORT_FILE = "submission-report.txt"
LOADGEN_LOGS = ("mlperf_log_detail.txt", "mlperf_log_summary.txt")
ACCURACY_LOG = "mlperf_log_accuracy.json"


@dataclass
class Submission:
    root: Path
    submitter: str
    placed: list[str] = field(default_factory=list)  # runs in the tree: scenario paths
    gaps: list[Gap] = field(default_factory=list)
    model_mapping: dict[str, str] = field(default_factory=dict)

    @property
    def report_lines(self) -> list[str]:
        mapping = ";".join(f"{model}:{bench}" for model, bench in self.model_mapping.items())
        return [f"submission tree: {self.root}",
                f"division {DIVISION}: edgebench's models are not MLPerf's reference "
                "ResNet-50, so no closed-division tree is made",
                f"model map (open/{self.submitter}/model_mapping.json; on the checker's "
                f"command line: --extra-model-benchmark-map \"{mapping}\")",
                *[f"  placed: {where}" for where in self.placed],
                *([f"  cannot be submitted as it is: {gap.line()}" for gap in self.gaps]
                  or ["  nothing short of a submission's rules"])]


def _newest(records: list[tuple[ResultRecord, Path]]) -> tuple[ResultRecord, Path]:
    return max(records, key=lambda item: item[0].started_at)


def _readme(record: ResultRecord) -> str:
    options = {k: v for k, v in (record.configuration or {}).items()
               if v not in ("None", "False")}
    command = "edgebench run " + " ".join(
        f"--{k.replace('_', '-')}" if v == "True" else f"--{k.replace('_', '-')} {v}"
        for k, v in options.items())
    return (f"# {record.model} on {record.backend} {record.backend_version}, "
            f"{record.precision}, {record.scenario}\n\nMade by edgebench "
            f"{record.edgebench_version} on {record.device}, started {record.started_at}:\n\n"
            f"    {command}\n")


def _user_conf(record: ResultRecord) -> str:
    """The LoadGen settings edgebench set over mlperf.conf for this run."""
    settings, scenario = record.loadgen_settings, scenario_dir(record)
    if settings is None:
        return ""
    model = settings.mlperf_conf_benchmark or "*"
    lines = [f"{model}.{scenario}.min_duration = {settings.min_duration_ms}",
             f"{model}.{scenario}.min_query_count = {settings.min_query_count}",
             f"{model}.*.performance_sample_count_override = "
             f"{settings.performance_sample_count_override}"]
    if scenario == "SingleStream" and settings.single_stream_expected_latency_ns:
        lines.append(f"{model}.SingleStream.target_latency = "
                     f"{settings.single_stream_expected_latency_ns / 1e6:.3f}")
    if scenario == "MultiStream" and settings.multi_stream_expected_latency_ns:
        lines.append(f"{model}.MultiStream.target_latency = "
                     f"{settings.multi_stream_expected_latency_ns / 1e6:.3f}")
    if scenario == "Offline" and settings.offline_expected_qps:
        lines.append(f"{model}.Offline.target_qps = {settings.offline_expected_qps:.3f}")
    return "\n".join(lines) + "\n"


def _measurements(record: ResultRecord) -> dict:
    quantizer = (record.configuration or {}).get("quantizer")
    weight_types = {"int8-static": "int8", "int8-dynamic": "int8", "w4a8": "int4"}.get(
        record.precision, record.precision)
    return {
        "input_data_types": "int8" if record.precision == "int8-static" else "fp32",
        "retraining": "no",
        "starting_weights_filename": record.weights,
        "weight_data_types": weight_types,
        "weight_transformations": f"{record.precision} by {record.backend}'s own toolchain"
        + (f" (quantizer {quantizer})" if quantizer not in (None, "None") else ""),
        "executed_precision": record.precision_executed,
    }


def _accuracy_txt(record: ResultRecord) -> str:
    """MLPerf's ImageNet scoring output (accuracy-imagenet.py's line)."""
    accuracy = record.metrics.accuracy
    good = round((accuracy.top1 or 0.0) * (accuracy.count or 0))
    return f"accuracy={100 * (accuracy.top1 or 0.0):.3f}%, good={good}, " \
           f"total={accuracy.count}\n"


def _commit() -> str:
    """The git commit of the edgebench checkout writing the tree, where it is one."""
    proc = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown (not a git checkout)"


def _copy(files: tuple[str, ...], source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy2(source / name, target / name)


def build(folders: list[Path], out: Path, submitter: str, facts_file: Path | None,
          checkout_given: Path | None, allow_partial: bool) -> Submission:
    checkout = inference_checkout(checkout_given)
    out = Path(out)
    if out.exists():
        raise UsageError(f"--out {out} exists: a submission tree is never overwritten; "
                         "choose a new folder")
    if not submitter.strip() or "/" in submitter:
        raise UsageError(f"--submitter {submitter!r}: give your organisation's name")
    facts = read_facts(facts_file)
    groups: dict[tuple[str, str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for path in find_results(folders):
        record, _ = ResultRecord.read(path)
        if record.unsupported or record.scenario not in ("single-stream", "multi-stream",
                                                         "offline"):
            continue
        key = (system_id(record), benchmark_name(record), scenario_dir(record))
        groups[key][record.mode].append((record, path.parent))
    submission = Submission(out, submitter)
    scenarios_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    chosen: dict[tuple[str, str, str], dict[str, tuple[ResultRecord, Path]]] = {}
    for key, by_mode in sorted(groups.items()):
        where = "/".join(key)
        if "performance" not in by_mode:
            submission.gaps.append(Gap(where, "no performance run", "Performance log missing"))
            continue
        chosen[key] = {mode: _newest(runs) for mode, runs in by_mode.items()
                       if mode in MODES}
        scenarios_of[key[:2]].add(key[2])
        for mode in MODES:
            if mode not in chosen[key]:
                # v6.x's checker stops with a TypeError on a scenario without accuracy/
                error = ("a TypeError in accuracy_check.py (it reads the missing accuracy "
                         "log)") if mode == "accuracy" else None
                what = "no accuracy run" if mode == "accuracy" else (
                    f"no {mode} audit run (edgebench run --mode {mode}); the open "
                    "division's checker does not ask for it, the closed one's does")
                submission.gaps.append(Gap(where, what, error))
                continue
            record, run_dir = chosen[key][mode]
            submission.gaps.extend(gaps_of(record, f"{where} {mode} ({run_dir})"))
    for (system, bench), present in sorted(scenarios_of.items()):
        for missing in [s for s in EDGE_SCENARIOS if s not in present]:
            submission.gaps.append(Gap(f"{system}/{bench}/{missing}", "no run of this "
                                       "scenario: an edge system needs all three", None))
    if not chosen:
        raise UsageError(f"no performance run of an MLPerf scenario under "
                         f"{', '.join(map(str, folders))}: nothing to submit")
    if submission.gaps and not allow_partial:
        for line in submission.report_lines[3:]:
            say(line)
        raise UsageError(f"{len(submission.gaps)} things keep these runs from a "
                         "submission (listed above): make the runs, or pass --allow-partial "
                         "to write the tree anyway")
    staging = out.parent / f".partial-{out.name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _write(submission, staging, chosen, checkout, facts)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_text_atomic(out / REPORT_FILE, "\n".join(submission.report_lines) + "\n")
    return submission


def _write(submission: Submission, root: Path, chosen: dict, checkout: Path,
           facts: dict[str, str]) -> None:
    top = root / DIVISION / submission.submitter
    systems: dict[str, ResultRecord] = {}
    for (system, bench, scenario), runs in chosen.items():
        target = top / "results" / system / bench / scenario
        performance, performance_dir = runs["performance"]
        _copy(LOADGEN_LOGS, performance_dir, target / "performance" / "run_1")
        if "accuracy" in runs:
            accuracy, accuracy_dir = runs["accuracy"]
            _copy((*LOADGEN_LOGS, ACCURACY_LOG), accuracy_dir, target / "accuracy")
            write_text_atomic(target / "accuracy" / "accuracy.txt", _accuracy_txt(accuracy))
        write_json_atomic(target / "measurements.json", _measurements(performance))
        write_text_atomic(target / "user.conf", _user_conf(performance))
        shutil.copy2(checkout / "loadgen" / "mlperf.conf", target / "mlperf.conf")
        write_text_atomic(target / "README.md", _readme(performance))
        for test in AUDIT_TESTS.names():
            if test not in runs:
                continue
            audit, audit_dir = runs[test]
            words = mlcommons_tools.verify_audit(checkout, test, target, audit_dir)
            if "TEST PASS" not in words or "TEST FAIL" in words:
                submission.gaps.append(Gap(
                    f"{system}/{bench}/{scenario} {test} ({audit_dir})",
                    "MLCommons' run_verification.py did not pass it: "
                    + (" | ".join(line for line in words.splitlines() if "TEST" in line)
                       or "it wrote no verdict"),
                    f"Compliance test {test} failed (closed division)"))
        submission.placed.append(f"{system}/{bench}/{scenario}: "
                                 + ", ".join(sorted(runs)))
        systems.setdefault(system, performance)
        submission.model_mapping[bench] = MLPERF_BENCHMARK
    for folder in ("systems", "src"):
        (top / folder).mkdir(parents=True, exist_ok=True)
    for system, record in systems.items():
        write_json_atomic(top / "systems" / f"{system}.json",
                          describe(record, submission.submitter, facts))
    write_json_atomic(top / "model_mapping.json", submission.model_mapping)
    versions = sorted({r.edgebench_version for runs in chosen.values()
                       for r, _ in runs.values()})
    write_text_atomic(top / "src" / "README.md",
                      "# The code that made these runs\n\nedgebench " + ", ".join(versions)
                      + f" (each run's result.json records its version); this tree was "
                      f"written from commit {_commit()}\n")
    backup = root.parent / f"{submission.root.name}.accuracy-logs-originals"
    truncated = mlcommons_tools.truncate_accuracy_logs(checkout, root,
                                                       submission.submitter, backup)
    if not truncated.passed:
        raise UsageError(f"MLCommons' truncate_accuracy_log.py failed: "
                         f"{truncated.output.strip().splitlines()[-1:]}")
