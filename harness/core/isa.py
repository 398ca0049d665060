"""Which instruction set a kernel ran on, read from the name its runtime gave it.

OpenVINO names each layer's primitive (`brgconv_avx512_amx_1x1_I8`, `jit_avx2_f32`,
`ref_any_f32`), oneDNN's verbose output names each primitive's implementation
(`brg_conv_fwd:avx512_core_amx`) and, once, the widest ISA it dispatches to
(`isa:Intel AVX2`). The names differ; the classes below do not, so that two machines'
runs compare: `{"amx_int8": 52, "avx512_vnni": 3, "ref": 1}`.
"""

from __future__ import annotations

import re
from collections import Counter

# The first pattern a kernel's name matches names its class (AMX before AVX-512: an AMX
# kernel's name says avx512_core_amx); a name that says no ISA is "unspecified".
ISA_CLASSES = (
    ("amx", re.compile(r"amx")),
    ("avx512_fp16", re.compile(r"avx512_core_fp16|avx512_fp16")),
    ("avx512_bf16", re.compile(r"avx512_core_bf16|avx512_bf16")),
    ("avx512_vnni", re.compile(r"avx512_core_vnni|avx512_vnni")),
    ("avx_vnni", re.compile(r"avx2_vnni|avx_vnni")),
    # oneDNN 3.6 and later name the AVX-512 of Sapphire Rapids and later AVX10.1/512
    ("avx512", re.compile(r"avx512|avx10")),
    ("avx2", re.compile(r"avx2")),
    ("avx", re.compile(r"(^|[_:])avx($|_)")),
    ("sse4", re.compile(r"sse4")),
    ("arm_sve", re.compile(r"sve")),
    ("arm_neon", re.compile(r"(^|_)acl(_|$)|neon|asimd")),
    ("blas", re.compile(r"blas")),
    ("ref", re.compile(r"(^|[_:])ref($|[_:])")),
)
UNSPECIFIED = "unspecified"
# what an AMX kernel computes in, from its name or its source's data type
AMX_TYPES = (("amx_int8", re.compile(r"(^|[_:])(i8|u8|s8|int8)($|[_:])", re.I)),
             ("amx_bf16", re.compile(r"bf16", re.I)),
             ("amx_fp16", re.compile(r"(^|[_:])(f16|fp16)($|[_:])", re.I)))


def isa_class(kernel: str, data_type: str = "") -> str:
    """The ISA class of a kernel's name; `data_type` (oneDNN's source type) tells an AMX
    kernel's int8 from its bf16 where the name does not."""
    name = kernel.lower()
    for label, pattern in ISA_CLASSES:
        if pattern.search(name):
            if label != "amx":
                return label
            for amx, typed in AMX_TYPES:
                if typed.search(kernel) or typed.search(data_type):
                    return amx
            return label
    return UNSPECIFIED


def isa_counts(kernels: Counter) -> dict[str, int]:
    """Kernel name -> count, as ISA class -> count, most first."""
    classes: Counter = Counter()
    for kernel, count in kernels.items():
        classes[isa_class(kernel)] += count
    return dict(classes.most_common())


# oneDNN's verbose output (ONEDNN_VERBOSE=1), the lines edgebench reads
ONEDNN_ISA = re.compile(r"^onednn_verbose,(?:v\d+,)?info,cpu,isa:(.*)$")
ONEDNN_EXEC = re.compile(r"^onednn_verbose,(?:v\d+,)?primitive,exec,cpu,([^,]+),([^,]+),")
ONEDNN_SOURCE = re.compile(r"src(?:_\w+)?:(\w+):")
ONEDNN_COMPUTE = ("convolution", "deconvolution", "inner_product", "matmul", "rnn")


def parse_onednn_verbose(text: str) -> dict:
    """oneDNN's verbose lines: the ISA it dispatches to, and each compute primitive's
    implementation with its ISA class (reorders and eltwise ops listed apart)."""
    dispatch = None
    compute: Counter = Counter()
    classes: Counter = Counter()
    other: Counter = Counter()
    for line in text.splitlines():
        line = line.strip()
        if match := ONEDNN_ISA.match(line):
            dispatch = match.group(1).strip()
        elif match := ONEDNN_EXEC.match(line):
            primitive, implementation = match.groups()
            if primitive in ONEDNN_COMPUTE:
                source = ONEDNN_SOURCE.search(line)
                name = f"{primitive}:{implementation}"
                compute[name] += 1
                classes[isa_class(implementation, source.group(1) if source else "")] += 1
            else:
                other[f"{primitive}:{implementation}"] += 1
    return {"library_isa": {"oneDNN": dispatch} if dispatch else {},
            "counts": dict(classes.most_common()), "kernels": dict(compute.most_common()),
            "other_primitives": dict(other.most_common())}


def isa_summary(counts: dict[str, int] | None, unsupported: str | None = None) -> str | None:
    """`avx2 52, ref 1` for a table; "not reported" where the runtime cannot say;
    None where the run recorded nothing (an older edgebench)."""
    if counts:
        return ", ".join(f"{name} {count}" for name, count in counts.items())
    return "not reported" if unsupported else None

