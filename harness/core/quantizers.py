"""The quantizers a quantized precision may be made by (`--quantizer NAME`). Each runtime's
recipes say which of them it implements and which is its default
(`backends/<runtime>/quantize.py`); this registry says which exist and what each does,
for `--help`, the matrix's checks and the report."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.registry import Registry


@dataclass(frozen=True)
class Quantizer:
    name: str
    summary: str  # what it does to weights and activations, in one line


QUANTIZERS: Registry[Quantizer] = Registry("quantizer")
for _quantizer in (
    Quantizer("minmax", "round-to-nearest; ranges from the observed minimum and maximum"),
    Quantizer("entropy", "activation ranges that minimise the KL divergence of their "
              "histogram (ONNX Runtime's calibrator)"),
    Quantizer("percentile", "activation ranges clipped at a percentile of their histogram "
              "(ONNX Runtime's calibrator)"),
    Quantizer("histogram", "activation ranges that minimise the L2 quantization error of "
              "their histogram (PyTorch's HistogramObserver)"),
    Quantizer("nncf", "NNCF's post-training quantization: min-max ranges, then fast bias "
              "correction"),
    Quantizer("nncf-no-bias-correction", "NNCF's post-training quantization without its "
              "bias correction"),
    Quantizer("adaround", "AdaRound (Nagel et al. 2020): each layer's weight rounding "
              "learned on calibration data (aimet-onnx)"),
    Quantizer("cle", "cross-layer equalization (Nagel et al. 2019), then round-to-nearest "
              "min-max (aimet-onnx)"),
    Quantizer("cle-adaround", "cross-layer equalization, then AdaRound (aimet-onnx)"),
):
    QUANTIZERS.register(_quantizer.name, _quantizer)
