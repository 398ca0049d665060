"""LoadGen Systems Under Test, one per scenario, as in MLPerf's reference harness.

Inference runs inline in LoadGen's issue callback: with one backend instance that
already uses every core for a single batch, a worker queue of ours would add only
latency. Offline hands its batches to the backend's `predict_stream`, where a runtime
with its own asynchronous queue (OpenVINO) keeps several in flight.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import mlperf_loadgen as lg
import numpy as np

from scenarios import responses
from scenarios.qsl import QuerySampleLibrary

if TYPE_CHECKING:  # a SUT drives any backend through this interface; scenarios sit below
    from backends.base import Backend


class OutputRecorder:
    """Keeps each sample's logits in dataset order, for ``--save-outputs``.

    Rows of samples never answered stay NaN, so a gap cannot pass for a prediction.
    """

    def __init__(self, sample_count: int):
        self.sample_count = sample_count
        self.logits: np.ndarray | None = None

    def record(self, indices: list[int], logits: np.ndarray) -> None:
        if self.logits is None:
            self.logits = np.full((self.sample_count, logits.shape[1]), np.nan, np.float32)
        self.logits[indices] = logits


class SingleStreamSUT:
    """One sample per query; also the base that runs a list of samples as one batch."""

    def __init__(self, backend: Backend, qsl: QuerySampleLibrary,
                 outputs: OutputRecorder | None = None, max_batch: int = 1):
        self.backend, self.qsl, self.outputs = backend, qsl, outputs
        self.max_batch = max_batch  # Offline cuts its one query into batches of this
        self.error: Exception | None = None
        self.answered_samples = 0  # read by the runner's progress line
        # Responses may come from a runtime's own threads (OpenVINO's async queue).
        self._lock = threading.Lock()
        self.handle = lg.ConstructSUT(self.issue_queries, self.flush_queries)

    def issue_queries(self, query_samples: list) -> None:
        # An exception must not unwind into LoadGen's C++ thread (that aborts the
        # process): keep it for the runner and answer the query so LoadGen can finish.
        if self.error is None:
            try:
                logits = self.backend.predict(self.qsl.batch([s.index for s in query_samples]))
                self.respond(query_samples, logits)
                return
            except Exception as exc:
                self.error = exc
        self.respond_empty(query_samples)

    def respond(self, query_samples: list, logits: np.ndarray) -> None:
        classes = responses.encode(logits, len(query_samples))
        base = classes.ctypes.data
        answers = [
            lg.QuerySampleResponse(sample.id, base + responses.RESPONSE_BYTES * i,
                                   responses.RESPONSE_BYTES)
            for i, sample in enumerate(query_samples)
        ]
        with self._lock:
            if self.outputs is not None:
                self.outputs.record([s.index for s in query_samples], logits)
            self.answered_samples += len(query_samples)
        lg.QuerySamplesComplete(answers)  # copies the bytes; `classes` may go after

    @staticmethod
    def respond_empty(query_samples: list) -> None:
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in query_samples])

    def flush_queries(self) -> None:
        pass

    def destroy(self) -> None:
        lg.DestroySUT(self.handle)


class MultiStreamSUT(SingleStreamSUT):
    """LoadGen's MultiStream query (8 samples by default) runs as one batch."""


class OfflineSUT(SingleStreamSUT):
    """One query holding every sample, cut into batches of `max_batch` that the
    backend runs as it runs best (OpenVINO keeps several in flight)."""

    def issue_queries(self, query_samples: list) -> None:
        starts = range(0, len(query_samples), self.max_batch)
        chunks = [query_samples[start:start + self.max_batch] for start in starts]
        unanswered = set(range(len(chunks)))

        def batches():
            # where every sample is held, looked up once for the whole query
            rows = self.qsl.rows([s.index for s in query_samples])
            for number, start in enumerate(starts):
                if self.error is not None:
                    return
                yield number, self.qsl.gather(rows[start:start + self.max_batch])

        def claim(number: int) -> bool:
            # Each chunk is answered exactly once: a runtime callback arriving after a
            # failure has already answered its chunk empty is dropped.
            with self._lock:
                if number not in unanswered:
                    return False
                unanswered.discard(number)
                return True

        def on_logits(number: int, logits: np.ndarray) -> None:
            if not claim(number):
                return
            try:
                self.respond(chunks[number], logits)
            except Exception as exc:  # may run on a runtime thread: keep it for the runner
                self.error = self.error or exc
                self.respond_empty(chunks[number])

        try:
            self.backend.predict_stream(batches(), on_logits)
        except Exception as exc:
            self.error = self.error or exc
        for number in range(len(chunks)):
            if claim(number):
                self.respond_empty(chunks[number])
