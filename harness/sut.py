"""LoadGen Systems Under Test, one per scenario, as in MLPerf's reference harness.

Inference runs inline in LoadGen's issue callback: with one backend instance that
already uses every core for a single batch, a worker queue would add only latency.
"""

from __future__ import annotations

import mlperf_loadgen as lg
import numpy as np

from backends.base import Backend
from harness.qsl import QuerySampleLibrary


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
                 outputs: OutputRecorder | None = None):
        self.backend, self.qsl, self.outputs = backend, qsl, outputs
        self.error: Exception | None = None
        self.answered_samples = 0  # read by the runner's progress line
        self.handle = lg.ConstructSUT(self.issue_queries, self.flush_queries)

    def issue_queries(self, query_samples: list) -> None:
        self.run_batch(query_samples)

    def run_batch(self, query_samples: list) -> None:
        # An exception must not unwind into LoadGen's C++ thread (that aborts the
        # process): keep it for the runner and answer the query so LoadGen can finish.
        if self.error is None:
            try:
                self._infer(query_samples)
                return
            except Exception as exc:
                self.error = exc
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in query_samples])

    def _infer(self, query_samples: list) -> None:
        indices = [sample.index for sample in query_samples]
        logits = self.backend.predict(self.qsl.batch(indices))
        if self.outputs is not None:
            self.outputs.record(indices, logits)
        # MLPerf's ImageNet convention: the response is the predicted class as float32.
        classes = logits.argmax(axis=1).astype(np.float32)
        base = classes.ctypes.data
        responses = [
            lg.QuerySampleResponse(sample.id, base + 4 * i, 4)
            for i, sample in enumerate(query_samples)
        ]
        lg.QuerySamplesComplete(responses)  # copies the bytes; `classes` may go after
        self.answered_samples += len(query_samples)

    def flush_queries(self) -> None:
        pass

    def destroy(self) -> None:
        lg.DestroySUT(self.handle)


class MultiStreamSUT(SingleStreamSUT):
    """LoadGen's MultiStream query (8 samples by default) runs as one batch."""


class OfflineSUT(SingleStreamSUT):
    """One query holding every sample; it runs in batches of `max_batch`."""

    def __init__(self, backend: Backend, qsl: QuerySampleLibrary,
                 outputs: OutputRecorder | None = None, max_batch: int = 8):
        super().__init__(backend, qsl, outputs)
        self.max_batch = max_batch

    def issue_queries(self, query_samples: list) -> None:
        for start in range(0, len(query_samples), self.max_batch):
            self.run_batch(query_samples[start:start + self.max_batch])
