"""The precisions a run may ask for. Each backend makes them with its own recipes
(`backends/<runtime>/quantize.py`); this registry says which exist and which one the
others are compared with."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.registry import Registry


@dataclass(frozen=True)
class Precision:
    name: str
    summary: str
    # the precision the others are measured against: fidelity, speed-ups, "best" rows
    reference: bool = False


PRECISIONS: Registry[Precision] = Registry("precision")
for _precision in (
    Precision("fp32", "32-bit float, the source model as trained", reference=True),
    Precision("fp16", "16-bit float weights (and compute where the CPU has it)"),
    Precision("bf16", "bfloat16 compute (CPUs with AVX512_BF16, AMX or Arm bf16)"),
    Precision("int8-static", "int8 weights and activations, activations calibrated"),
    Precision("int8-dynamic", "int8 weights, activations quantized per query or kept float"),
    Precision("w4a8", "4-bit weights, 8-bit activations, calibrated (runtimes without a "
              "4-bit kernel dequantize the weights and compute in float)"),
):
    PRECISIONS.register(_precision.name, _precision)


def reference_precision() -> str:
    """The name of the precision every other one is compared with ("fp32")."""
    return next(name for name, precision in PRECISIONS.items() if precision.reference)
