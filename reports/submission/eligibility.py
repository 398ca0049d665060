"""What keeps a run out of a submission MLCommons accepts, said per run and per missing
run, each with the checker's error a tree that holds it anyway (`--allow-partial`) will
get. Nothing is dropped unsaid."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.records import ResultRecord
from scenarios.settings import MLPERF_MIN_DURATION_S

# MLPerf's ImageNet rules for `resnet` (the checker's performance-sample-count and
# dataset-size for v6.0): a performance run keeps 1024 samples loaded; the accuracy run
# scores all 50,000 validation images.
PERFORMANCE_SAMPLE_COUNT = 1024
IMAGENET_VALIDATION_IMAGES = 50_000


@dataclass(frozen=True)
class Gap:
    """Why a run (or a missing one) cannot be submitted as it is."""

    where: str  # the run folder, or the scenario folder a run is missing from
    problem: str
    checker_error: str | None  # what MLCommons' checker then says; None: it cannot tell

    def line(self) -> str:
        expect = (f"; the checker will say: {self.checker_error}" if self.checker_error
                  else "; the checker cannot see this: it is on you")
        return f"{self.where}: {self.problem}{expect}"


def gaps_of(record: ResultRecord, where: str) -> list[Gap]:
    """Why this one run falls short of a submission's."""
    gaps = []
    settings = record.loadgen_settings
    if record.mode != "accuracy":
        min_duration_ms = (settings.min_duration_ms if settings else None) or 0
        if record.quick or min_duration_ms < MLPERF_MIN_DURATION_S * 1000:
            gaps.append(Gap(where, f"{'a quick' if record.quick else 'a short'} run "
                            f"(LoadGen's minimum duration {min_duration_ms / 1000:g} s, "
                            f"MLPerf's is {MLPERF_MIN_DURATION_S} s)",
                            "Test duration less than 600s in user config"))
        if record.valid is False:
            gaps.append(Gap(where, "LoadGen called it INVALID: "
                            + (record.loadgen_verdict or "").splitlines()[0],
                            "Early stopping condition was not met (or the minimum query "
                            "count)"))
        count = settings.performance_sample_count_override if settings else None
        if count is not None and count < PERFORMANCE_SAMPLE_COUNT:
            gaps.append(Gap(where, f"{count} samples loaded for performance, MLPerf's "
                            f"ImageNet rules load {PERFORMANCE_SAMPLE_COUNT}",
                            "performance_sample_count ... needs to be >= 1024"))
    else:
        if record.samples < IMAGENET_VALIDATION_IMAGES:
            gaps.append(Gap(where, f"top-1 over {record.samples} images, not ImageNet's "
                            f"{IMAGENET_VALIDATION_IMAGES:,} validation images",
                            "accurcy run does not cover all dataset (unless "
                            "--skip-dataset-size-check)"))
    if not record.weights_pretrained:
        gaps.append(Gap(where, f"random weights ({record.weights}): its accuracy means "
                        "nothing", None))
    if record.unsupported:
        gaps.append(Gap(where, f"unsupported here: {record.unsupported.reason}",
                        "Performance log missing"))
    return gaps
