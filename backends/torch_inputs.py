"""The example inputs a PyTorch model is traced, exported or converted with: random
images of the model's input size, or, for a model that takes no single image, seeded
synthetic records of its declared inputs (so an embedding sees valid ids)."""

from __future__ import annotations

import numpy as np

from backends.base import named_inputs
from harness.core.datasets import SyntheticRecords
from harness.core.zoo import get_spec


def example_inputs(model_name: str, batch_size: int) -> tuple:
    import torch  # here: loading a built artifact needs no torch

    spec = get_spec(model_name)
    tensors = spec.tensor_inputs
    if tensors is None:
        return (torch.randn(batch_size, *spec.input.shape),)  # (C, H, W) from the spec
    records = SyntheticRecords(batch_size, tensors)
    batch = np.stack([records.sample(i) for i in range(batch_size)])
    return tuple(torch.from_numpy(array) for array in named_inputs(batch).values())


def input_names(model_name: str, default: str) -> list[str]:
    """The names an export gives the inputs: `default` for one image, else the card's."""
    spec = get_spec(model_name)
    tensors = spec.tensor_inputs
    return [default] if tensors is None else [s.name for s in tensors]
