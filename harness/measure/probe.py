"""Short timings before LoadGen starts: how long a batch takes (LoadGen's expected
rates are sized from it), and which Offline batch size runs fastest."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from backends.base import Backend, named_inputs
from harness.core.datasets import Dataset
from harness.core.errors import EdgebenchError
from harness.core.progress import say

PROBE_SECONDS = 0.5
# What MLPerf submitters try for Offline; the fastest is what `--max-batch auto` runs.
OFFLINE_BATCH_CANDIDATES = (1, 2, 4, 8, 16, 32)
CANDIDATE_SECONDS = 0.6
# Past the fastest size, throughput this far below it twice in a row ends the search:
# larger batches only add memory and per-batch time.
STOP_BELOW = 0.9
# The whole search's time: a slow precision tries the sizes that fit in it.
SEARCH_BUDGET_S = 10.0
PROBE_BATCHES_PER_SIZE = 4  # warm-up and timed batches one size costs, about


def sample_batch(backend: Backend, dataset: Dataset, batch_size: int) -> np.ndarray:
    """The dataset's first `batch_size` samples (repeated if it has fewer), as the
    backend takes them."""
    return np.stack([backend.to_input(dataset.sample(i % len(dataset)))
                     for i in range(batch_size)])


def first_inference(backend: Backend, batch: np.ndarray) -> np.ndarray:
    """The model's first inference; a runtime that rejects it (a shape or type it does
    not take) is one line in its own words with the shapes that were fed."""
    try:
        return backend.predict(batch)
    except Exception as exc:  # the runtime's verdict on this model: its own words
        fed = named_inputs(batch) or {"input": batch}
        shapes = ", ".join(f"{name} {list(array.shape)} {array.dtype}"
                           for name, array in fed.items())
        message = " ".join(str(exc).split())[:800] or type(exc).__name__
        raise EdgebenchError(f"{backend.name} rejected the model at its first inference: "
                             f"{message} (inputs fed: {shapes}); check the model card's "
                             "shapes and types, or --shape") from None


def probe(backend: Backend, dataset: Dataset, batch_size: int, streamed: bool,
          seconds: float = PROBE_SECONDS) -> tuple[float, float]:
    """(seconds per batch after warm-up, first-inference ms): the first sizes LoadGen's
    query generation, the second is the cold start a deployed app pays once.

    `streamed` measures the way Offline runs (`predict_stream`, where a runtime may
    keep several batches in flight), the others one batch at a time. At least one timed
    round, then rounds until `seconds`: a batch slower than that (VGG-19 at a slow
    precision takes seconds) is timed once, not thrice.
    """
    batch = sample_batch(backend, dataset, batch_size)
    started = time.perf_counter()
    first_inference(backend, batch)  # the first call allocates and picks kernels
    first_s = time.perf_counter() - started
    if first_s < seconds:
        backend.predict(batch)  # a second warm-up where it is cheap
    # enough batches in flight for a runtime that streams to keep its streams busy
    per_round = max(2, backend.batches_in_flight) if streamed else 1
    runs, started = 0, time.perf_counter()
    while runs == 0 or time.perf_counter() - started < seconds:
        if streamed:
            backend.predict_stream(((i, batch) for i in range(per_round)),
                                   lambda _tag, _logits: None)
        else:
            backend.predict(batch)
        runs += per_round
    return (time.perf_counter() - started) / runs, first_s * 1000


def choose_offline_batch(make_backend: Callable[[int], Backend], dataset: Dataset) -> dict:
    """The Offline batch size with the highest probed throughput, and the probe's figures.

    `make_backend(n)` returns a backend prepared for batches of n (static-shape runtimes
    build, or take from the cache, one artifact per size). The search stops before a
    size whose probe would pass SEARCH_BUDGET_S at the best rate seen so far: on a
    precision 14x slower than FP32, batch 32 alone would take minutes.
    """
    throughput: dict[int, float] = {}
    best, misses, stopped = None, 0, None
    started, compiling_s = time.perf_counter(), 0.0
    for size in OFFLINE_BATCH_CANDIDATES:
        if best is not None:
            predicted_s = PROBE_BATCHES_PER_SIZE * size / throughput[best]
            searched_s = time.perf_counter() - started - compiling_s
            if searched_s + predicted_s > SEARCH_BUDGET_S:
                stopped = f"stopped before batch {size}: its probe would pass " \
                          f"{SEARCH_BUDGET_S} s"
                say(f"  {stopped}")
                break
        backend = make_backend(size)
        compiling_s += backend.compile_s
        seconds_per_batch, _ = probe(backend, dataset, size, streamed=True,
                                     seconds=CANDIDATE_SECONDS)
        throughput[size] = size / seconds_per_batch
        say(f"  batch {size:>2}: {throughput[size]:.1f} samples/s")
        if best is None or throughput[size] > throughput[best]:
            best, misses = size, 0
        elif throughput[size] < STOP_BELOW * throughput[best]:
            misses += 1
            if misses == 2:
                break
    return {"asked": "auto", "chosen": best,
            "probe_samples_per_s": {str(k): round(v, 2) for k, v in throughput.items()},
            "candidates": list(OFFLINE_BATCH_CANDIDATES),
            "method": f"streamed as Offline runs, >= {CANDIDATE_SECONDS} s per size after "
                      f"warm-up; stops after two sizes below {STOP_BELOW:.0%} of the best"
                      + (f"; {stopped}" if stopped else "")}
