"""`--profile`: after LoadGen's run, the same loaded model timed again, then run under its
runtime's own profiler, timed alike; what the profiler says per operator, placed in the
model's layers, with what profiling cost."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from backends.base import Backend
from harness.core.datasets import Dataset
from harness.core.layer_classes import mapped_share, time_by_class
from harness.core.progress import say
from harness.measure.probe import sample_batch

WARM_UP_INFERENCES = 5
# as many inferences as fit in this time, within the bounds below, profiled and not
PROFILE_TIME_S = 2.0
MIN_INFERENCES, MAX_INFERENCES = 10, 100
# for a sweep's estimate: profiled inferences ran 1.3-1.5x slower here (MobileNetV2, the
# three runtimes), and loading the profiled twin and reading its profile took about 2 s
PROFILED_SLOWDOWN, PROFILE_FIXED_S = 1.5, 2.0
PROFILED_BASIS = ("the mean wall time of the profiled inferences themselves, one batch "
                  "each, timed around the runtime's call")


def inference_count(batch_ms: float) -> int:
    """How many inferences are profiled (and timed unprofiled) at `batch_ms` each."""
    return int(min(MAX_INFERENCES, max(MIN_INFERENCES, PROFILE_TIME_S * 1000 / batch_ms)))


def expected_seconds(batch_s: float) -> float:
    """What `measure_profile` adds to a run whose batch takes `batch_s`."""
    return PROFILE_FIXED_S + batch_s * (inference_count(batch_s * 1000) * (
        1 + PROFILED_SLOWDOWN) + WARM_UP_INFERENCES * PROFILED_SLOWDOWN)


def measure_profile(backend: Backend, dataset: Dataset, batch_size: int,
                    batch_s: float) -> dict:
    """The profile of one batch's inference in the steady state (`Profile`'s fields but
    `sum_over_loadgen_latency`, which needs LoadGen's figures), on a backend LoadGen has
    just warmed; `batch_s` is the probe's time of a batch, which sizes the count. The
    unprofiled model is timed before and after the profiled one, half its inferences
    each side, so that a drift of the machine does not pass for the profiler's cost."""
    batch = sample_batch(backend, dataset, batch_size)
    say(f"profiling {backend.name} {backend.precision} per operator ...")
    inferences = inference_count(max(batch_s * 1000, 1e-3))
    # LoadGen's Offline run streamed through another path (OpenVINO's async queue):
    # the one-batch call this times may not have run yet
    _timed(backend.predict, batch, 2)
    half = max(1, inferences // 2)
    before_ms = _timed(backend.predict, batch, half)
    profiler = backend.profiler()
    _timed(profiler.predict, batch, WARM_UP_INFERENCES, profiler.after_inference)
    profiled_ms = _timed(profiler.predict, batch, inferences, profiler.after_inference)
    operators = profiler.operators(inferences)  # the profiler stops here
    unprofiled_ms = (before_ms + _timed(backend.predict, batch, half)) / 2
    total_ms = sum(op["time_ms"] for op in operators)
    share = mapped_share(operators)
    say(f"  {len(operators)} operators, {total_ms:.3f} ms per inference, {share:.0%} placed "
        f"in layers; profiling cost {profiled_ms / unprofiled_ms - 1:+.0%}")
    return {"source": profiler.source, "inferences": inferences, "batch_size": batch_size,
            "operators_ms": round(total_ms, 4), "by_class_ms": time_by_class(operators),
            "mapped_share": share, "unprofiled_ms": round(unprofiled_ms, 4),
            "profiled_ms": round(profiled_ms, 4),
            "overhead": round(profiled_ms / unprofiled_ms - 1, 4),
            # the operators against the wall time of the very inferences they ran in
            "sum_over_latency": round(total_ms / profiled_ms, 4),
            "latency_basis": PROFILED_BASIS,
            "operators": operators, "notes": list(profiler.notes)}


def _timed(predict: Callable[[np.ndarray], object], batch: np.ndarray, times: int,
           after: Callable[[], None] | None = None) -> float:
    """Mean milliseconds of `times` calls of `predict`; `after` runs between them,
    untimed (a profiler reading what the inference recorded)."""
    elapsed = 0.0
    for _ in range(times):
        started = time.perf_counter()
        predict(batch)
        elapsed += time.perf_counter() - started
        if after is not None:
            after()
    return elapsed * 1000 / times


def batch_latency_ms(metrics: dict, batch_size: int) -> tuple[float | None, str]:
    """The run's measured time of one batch, and what it is: LoadGen's mean query
    latency (SingleStream, MultiStream: one query is one batch), else the batch at
    Offline's measured throughput."""
    latency = (metrics.get("latency_ms") or {}).get("mean")
    if latency is not None:
        return latency, "LoadGen's mean query latency of this run (profiler off)"
    throughput = metrics.get("throughput_sps")
    if throughput:
        return batch_size * 1000 / throughput, \
            f"{batch_size} samples at this run's Offline throughput (profiler off)"
    return None, "no latency measured"


def with_latency(profile: dict, metrics: dict) -> dict:
    """`profile` with its operators' sum over LoadGen's measured latency of a batch too:
    above 1 by what the profiler adds inside the operators it times."""
    latency_ms, basis = batch_latency_ms(metrics, profile["batch_size"])
    return {**profile, "loadgen_latency_basis": basis, "sum_over_loadgen_latency":
            None if not latency_ms else round(profile["operators_ms"] / latency_ms, 4)}
