"""PyTorch eager on the CPU: the source model itself, no conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from backends.base import Backend
from harness.artifacts import ArtifactCache
from harness.weights import WeightsSource


class PyTorchBackend(Backend):
    name = "pytorch"
    precisions = ("fp32",)
    # Measured on all three models here (AVX-512, 2 threads): channels-last oneDNN
    # convolutions are 1.1-1.7x faster than NCHW, at batch 1 and batch 8 alike.
    channels_last = True

    @staticmethod
    def runtime_version() -> str:
        return torch.__version__

    def prepare(
        self, model_name: str, weights: WeightsSource, precision: str, cache: ArtifactCache
    ) -> Path | None:
        torch.set_num_threads(self.threads)
        self.model = weights.build_model(model_name)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        return weights.path  # eager runs the checkpoint itself; None for random weights

    def predict(self, batch: np.ndarray) -> np.ndarray:
        inputs = torch.from_numpy(batch)
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(inputs).numpy()

    def settings(self) -> dict:
        return {
            **super().settings(),
            "torch_num_threads": torch.get_num_threads(),
            "mode": "eager, torch.inference_mode()",
            "memory_format": "channels_last" if self.channels_last else "contiguous",
        }
