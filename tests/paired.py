"""Claims about two runs' accuracy on the same images, made the way the reports make
them: McNemar's exact test on the per-sample correctness each run saved. A fixed margin
("within 2 points") is narrower than what 100 images can resolve and lands on one side
or the other with the CPU's rounding (7-bit weights where the x86 CPU has no VNNI); the
test's own resolution does not: at 100 images it detects a difference of about 6 points
(6 samples right in one run only, none the other way)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.core.records import ResultRecord
from harness.core.statistics import PairedComparison, paired_comparison
from harness.core.system_info import cpu_features

# CPUs whose int8 dot product accumulates in 32 bits: VNNI, AMX, Arm's dot product. On
# x86 without them, VPMADDUBSW adds pairs of u8 x s8 products in saturating 16 bits, so a
# runtime's integer kernels may round where its float simulation does not.
INT8_ACCUMULATES_IN_32_BITS = bool({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"}
                                   & cpu_features())


def saved(run_dir: Path, record: ResultRecord) -> dict[str, np.ndarray]:
    return dict(np.load(run_dir / record.predictions_file.path))


def compare(first: tuple[Path, ResultRecord], second: tuple[Path, ResultRecord]
            ) -> PairedComparison:
    """McNemar's exact test between two accuracy runs, from the classes they saved."""
    one, two = saved(*first), saved(*second)
    assert np.array_equal(one["label"], two["label"]), "not the same images"
    return paired_comparison(one["predicted"] == one["label"],
                             two["predicted"] == two["label"])


def assert_same_top1(first: tuple[Path, ResultRecord],
                     second: tuple[Path, ResultRecord]) -> None:
    """No difference in top-1 that these images can show (two-sided, p >= 0.05)."""
    comparison = compare(first, second)
    assert not comparison.significant, comparison
