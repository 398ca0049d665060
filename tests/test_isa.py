"""What executed, down to the instruction set: the read-back parsers on recorded runtime
output, AMX's usability, and real runs that say which ISA their kernels ran on or why
their runtime cannot say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.isa import isa_class, isa_summary, parse_onednn_verbose
from harness.core.system_info import amx_state, cpu_features

DATA = Path(__file__).parent / "data" / "isa"

# The CPU flag each ISA class needs: a kernel counted in a class the CPU does not list
# would be a misread name.
NEEDS_FLAG = {"avx2": "avx2", "avx": "avx", "avx512": "avx512f", "avx512_vnni": "avx512_vnni",
              "avx_vnni": "avx_vnni", "avx512_bf16": "avx512_bf16",
              "avx512_fp16": "avx512_fp16", "amx_int8": "amx_int8", "amx_bf16": "amx_bf16",
              "amx_fp16": "amx_fp16", "sse4": "sse4_2", "arm_neon": "asimd", "arm_sve": "sve"}


@pytest.mark.parametrize(("kernel", "data_type", "expected"), [
    # OpenVINO 2026.4's primitiveType on this project's AVX2 machine (recorded)
    ("brgconv_avx2_1x1_f32", "", "avx2"), ("brgconv_avx2_dw_f32", "", "avx2"),
    ("jit_avx2_1x1_I8", "", "avx2"), ("jit_avx2_I8", "", "avx2"), ("ref_any_f32", "", "ref"),
    ("undef_I8", "", "unspecified"), ("unknown_f32", "", "unspecified"),
    # OpenVINO's names on AVX-512 and AMX CPUs (its CPU plugin's naming)
    ("brgconv_avx512_amx_1x1_I8", "", "amx_int8"), ("brgconv_avx512_amx_bf16", "", "amx_bf16"),
    ("jit_avx512_core_vnni_1x1_I8", "", "avx512_vnni"), ("jit_avx512_f32", "", "avx512"),
    ("brgemm_avx512_core_amx_fp16", "", "amx_fp16"), ("gemm_acl_f32", "", "arm_neon"),
    # oneDNN's implementation names, the AMX kind from the source's data type; oneDNN 3.6+
    # calls Sapphire Rapids' ISA avx10_1_512
    ("brg_conv_fwd:avx10_1_512_amx", "u8", "amx_int8"),
    ("brg_conv_fwd:avx10_1_512_amx", "bf16", "amx_bf16"),
    ("brg_conv_fwd:avx10_1_512", "f32", "avx512"),
    ("brg_conv_fwd:avx512_core_vnni", "u8", "avx512_vnni"),
    ("brdgmm_dw:avx2", "f32", "avx2"), ("jit:uni", "", "unspecified"),
    ("jit_sse42_f32", "", "sse4"), ("gemm_blas_f32", "", "blas"),
])
def test_kernel_names_map_to_isa_classes(kernel, data_type, expected):
    assert isa_class(kernel, data_type) == expected


def test_onednn_verbose_recorded_from_pytorch_counts_each_convolution():
    """PyTorch 2.13 fp32 MobileNetV2 (channels-last, batch 1) on this project's AVX2 VM,
    as oneDNN printed it."""
    found = parse_onednn_verbose(
        (DATA / "onednn_verbose_pytorch_fp32_mobilenet_v2_avx2.txt").read_text())
    assert found["library_isa"] == {"oneDNN": "Intel AVX2"}
    assert found["kernels"] == {"convolution:brgconv_1x1:avx2": 23,
                                "convolution:brdgmm_dw:avx2": 17,
                                "convolution:brg_conv_fwd:avx2": 1}
    assert found["counts"] == {"avx2": 41}
    assert found["other_primitives"] == {"reorder:jit:uni": 33, "reorder:jit:blk": 8}


def test_onednn_amx_lines_count_as_amx_by_their_source_type():
    lines = "\n".join([
        "onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with float16, Intel DL Boost and "
        "bfloat16 support and Intel AMX with bfloat16 and 8-bit integer support",
        *["onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx10_1_512_amx,"
          "forward_inference,src:u8::blocked:acdb::f0 wei:s8:a:blocked:AcdB64a4b::f0 "
          "dst:u8::blocked:acdb::f0,,alg:convolution_direct,mb1_ic32oc64_ih56oh56kh1sh1dh0ph0"
          "_iw56ow56kw1sw1dw0pw0,0.05"] * 3,
        "onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx10_1_512_amx,undef,"
        "src:bf16::blocked:ab::f0 wei:bf16:a:blocked:BA16a32b2a::f0 dst:bf16::blocked:ab::f0"
        ",,,1x1280:1280x1000,0.02",
        "onednn_verbose,v1,primitive,exec,cpu,eltwise,jit:avx512_core,forward_inference,"
        "data:f32::blocked:ab::f0,,alg:eltwise_relu,1x1000,0.001"])
    found = parse_onednn_verbose(lines)
    assert found["counts"] == {"amx_int8": 3, "amx_bf16": 1}
    assert found["other_primitives"] == {"eltwise:jit:avx512_core": 1}
    assert "Intel AMX" in found["library_isa"]["oneDNN"]
    assert isa_summary(found["counts"]) == "amx_int8 3, amx_bf16 1"


def test_amx_is_usable_only_where_the_kernel_grants_the_tile_state():
    assert amx_state(["avx2"]) is None  # not listed: nothing to say
    state = amx_state(["amx_tile"])
    if "amx_tile" in cpu_features():  # a real AMX CPU: usable, or refused by its kernel/VM
        assert state.startswith(("usable", "listed but not usable"))
    else:  # listed by a (pretend) cpuinfo on a CPU without AMX: the kernel refuses it
        assert state.startswith("listed but not usable")


def test_every_demo_result_says_which_isa_ran_or_why_its_runtime_cannot(demo_sweep):
    results, _ = demo_sweep
    flags = cpu_features()
    seen = set()
    for path in results.rglob("result.json"):
        record = json.loads(path.read_text())
        if record.get("unsupported"):
            continue
        isa = record["executed_isa"]
        seen.add(record["backend"])
        if record["backend"] in ("onnxruntime", "tflite"):
            assert "does not say which instruction set" in isa["unsupported"]
            continue
        assert isa["counts"] or isa["unsupported"].startswith(
            "no compute kernel ran through oneDNN"), (path, isa)  # PyTorch's FBGEMM int8
        for name in isa["counts"]:
            # every counted kernel ran on an ISA this CPU lists, or names none
            assert name in ("unspecified", "ref", "blas") or NEEDS_FLAG[name] in flags, \
                (path, name)
        if record["backend"] == "openvino":
            assert sum(isa["counts"].values()) == sum(isa["kernels"].values())
        else:
            assert isa["library_isa"]["ATen"]
    assert seen == {"onnxruntime", "openvino", "tflite", "pytorch"}
