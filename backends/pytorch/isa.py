"""Which instruction set PyTorch's kernels ran on, as PyTorch's libraries say it.

oneDNN prints each primitive it executes when its verbose mode is on (PyTorch's
convolutions in eager mode, the x86 engine's and inductor's int8 convolutions and
matmuls), with the implementation's ISA (`brg_conv_fwd:avx512_core_amx`) and, once, the
widest ISA it dispatches to. One inference of the run's batch is made with it on, its
output (C's stdout) caught in a file. ATen's CPU capability names the ISA of PyTorch's
own vectorized kernels, inductor's vector ISA that of the code it generated.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Callable

import torch

from harness.core.isa import parse_onednn_verbose

# what oneDNN's verbose output does not see: said beside its counts
OUTSIDE_ONEDNN = ("kernels outside oneDNN (FBGEMM's quantized ones, BLAS linear layers, "
                  "ATen's own) are not counted: they name no ISA")


def _flush_c_stdout() -> None:
    # oneDNN prints with C's stdio, buffered apart from Python's; no C library to ask:
    # its stdout stays buffered
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


def onednn_verbose_of(run: Callable[[], object]) -> str:
    """What oneDNN printed while `run()` ran with its verbose mode on."""
    sys.stdout.flush()
    _flush_c_stdout()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                run()
        finally:
            _flush_c_stdout()
            os.dup2(saved, 1)
            os.close(saved)
        caught.seek(0)
        return caught.read().decode(errors="replace")


def pytorch_isa(run: Callable[[], object], compiled: bool) -> dict:
    """The ExecutedIsa record of one inference (`run`)."""
    found = parse_onednn_verbose(onednn_verbose_of(run))
    found["library_isa"]["ATen"] = torch.backends.cpu.get_cpu_capability()
    if compiled:
        from torch._inductor import cpu_vec_isa

        found["library_isa"]["inductor"] = str(cpu_vec_isa.pick_vec_isa() or "none")
    found["source"] = f"oneDNN's verbose output over one inference; {OUTSIDE_ONEDNN}"
    if not found["counts"]:
        found["unsupported"] = ("no compute kernel ran through oneDNN, the one library of "
                                "PyTorch's that names its ISA; ATen's own kernels dispatch "
                                f"to {found['library_isa']['ATen']}")
    return found
