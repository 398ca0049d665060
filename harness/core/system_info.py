"""What machine a run happened on: CPU, ISA flags, cores, memory, OS.

Everything is read from the OS (``/proc``, ``/sys``, ``sysctl``), never presumed:
the same code describes an x86 laptop and a Raspberry Pi.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from pathlib import Path

from harness.core.board import board_facts

# ISA extensions that decide INT8/FP16/BF16 speed; the names are the kernel's.
RELEVANT_ISA_FLAGS = (
    # x86
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8",
    "amx_bf16", "amx_fp16",
    # Arm (names as in /proc/cpuinfo "Features")
    "asimd", "asimdhp", "fphp", "asimddp", "i8mm", "bf16", "sve", "sve2", "sme",
)


def _cpuinfo(root: Path = Path("/")) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per block ('processor' blocks and the trailer)."""
    try:
        text = (root / "proc/cpuinfo").read_text()
    except OSError:
        return []
    blocks = []
    for chunk in text.strip().split("\n\n"):
        entry = {}
        for line in chunk.splitlines():
            key, _, value = line.partition(":")
            entry[key.strip().lower()] = value.strip()
        blocks.append(entry)
    return blocks


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_name(cpuinfo: list[dict[str, str]]) -> str:
    for block in cpuinfo:
        if block.get("model name"):
            return block["model name"]
    for block in cpuinfo:  # Raspberry Pi kernels put the board name here
        if block.get("model"):
            return block["model"]
    device_tree = Path("/proc/device-tree/model")
    if device_tree.exists():
        return device_tree.read_text(errors="replace").strip("\x00 \n")
    return _sysctl("machdep.cpu.brand_string") or platform.processor() or "unknown"


def isa_flags(cpuinfo: list[dict[str, str]]) -> list[str]:
    """The relevant flags this CPU reports; on an unknown OS, an empty list."""
    reported: set[str] = set()
    for block in cpuinfo:
        reported.update((block.get("flags") or block.get("features") or "").split())
    if not reported:
        reported.update(_sysctl("machdep.cpu.features").lower().split())
    return [flag for flag in RELEVANT_ISA_FLAGS if flag in reported]


def physical_cores(root: Path = Path("/"), cpus: set[int] | None = None) -> int:
    """Distinct (package, core) pairs from sysfs, among `cpus` when given; the logical
    count where sysfs is silent."""
    pairs = set()
    for topology in (root / "sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        if cpus is not None and int(topology.parent.name[3:]) not in cpus:
            continue
        try:
            pairs.add(
                ((topology / "physical_package_id").read_text().strip(),
                 (topology / "core_id").read_text().strip())
            )
        except OSError:
            continue
    return len(pairs) or (len(cpus) if cpus is not None else logical_cores())


def cgroup_cpu_limit(root: Path = Path("/")) -> float | None:
    """The CPU quota of this process's cgroup in cores (v2 cpu.max, v1 cfs quota)."""
    try:
        quota, period = (root / "sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int((root / "sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cores(root: Path = Path("/"), affinity: set[int] | None = None) -> tuple[int, str]:
    """(threads, why): the physical cores among the CPUs this process may run on (its
    affinity mask), capped by its cgroup's CPU quota: what a run defaults to."""
    if affinity is None:
        try:
            affinity = set(os.sched_getaffinity(0))
        except AttributeError:  # macOS
            affinity = None
    cores = physical_cores(root, affinity)
    basis = (f"{cores} physical cores among the {len(affinity)} CPUs of the affinity mask"
             if affinity is not None else f"{cores} physical cores")
    limit = cgroup_cpu_limit(root)
    if limit is not None and math.ceil(limit) < cores:
        cores = max(1, math.ceil(limit))
        basis += f", capped by the cgroup CPU quota of {limit:g} cores"
    return cores, basis


def logical_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def memory_gb() -> float:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def board_name() -> str | None:
    """The board a single-board computer reports (e.g. 'Raspberry Pi 5 Model B Rev 1.0')."""
    try:
        return Path("/proc/device-tree/model").read_text(errors="replace").strip("\x00 \n") \
            or None
    except OSError:
        return None


def default_device_name(system: dict) -> str:
    """Hostname plus board or CPU model: two Pis both called 'raspberrypi' but of
    different boards stay two devices in a report."""
    return f"{system.get('hostname') or 'unknown'} ({system.get('board') or system['cpu']})"


def emulation(cpuinfo: list[dict[str, str]] | None = None) -> str | None:
    """Why this process is judged to run under CPU emulation, or None.

    Under qemu-user an ARM process reads the host's /proc/cpuinfo: x86 fields beside an
    ARM machine name give it away. EDGEBENCH_EMULATED=1 says so explicitly.
    """
    if os.environ.get("EDGEBENCH_EMULATED") == "1":
        return "EDGEBENCH_EMULATED=1"
    blocks = _cpuinfo() if cpuinfo is None else cpuinfo
    if is_arm() and any("vendor_id" in block or "flags" in block for block in blocks):
        return (f"{platform.machine()} process reading an x86 /proc/cpuinfo "
                "(qemu-user emulation)")
    return None


# Linux x86-64: the system call and its arguments that ask for AMX's tile data state
# (arch/x86/include/uapi/asm/prctl.h); oneDNN asks the same before its AMX kernels
SYS_ARCH_PRCTL = 158
ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_XTILEDATA = 18


def amx_state(flags: list[str] | frozenset[str]) -> str | None:
    """Whether the AMX the CPU lists can be used by this process: a VM or an older kernel
    can list amx_tile and still refuse the tile state. None where no AMX is listed."""
    if "amx_tile" not in flags:
        return None
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return "listed; not asked (the tile permission is asked on Linux x86-64 only)"
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0:
        return "usable: the kernel granted this process the AMX tile state"
    return ("listed but not usable: the kernel refused the AMX tile state "
            f"(arch_prctl ARCH_REQ_XCOMP_PERM: {os.strerror(ctypes.get_errno())}); "
            "AMX kernels cannot run here")


def describe_system() -> dict:
    cpuinfo = _cpuinfo()
    usable, usable_basis = usable_cores()
    emulated = emulation(cpuinfo)
    return {
        "emulation": emulated,
        "cpu": cpu_name(cpuinfo) if not emulated else f"emulated {platform.machine()} "
                                                      f"on {cpu_name(cpuinfo)}",
        "board": board_name(),
        "arch": platform.machine(),
        "cores_physical": physical_cores(),
        "cores_logical": logical_cores(),
        "cores_usable": usable,
        "cores_usable_basis": usable_basis,
        # under emulation /proc/cpuinfo is the host's: its flags are not this CPU's
        "isa_flags": isa_flags(cpuinfo) if not emulated else [],
        "amx": amx_state(isa_flags(cpuinfo)) if not emulated else None,
        "memory_gb": memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "hostname": platform.node(),
        # temperature, frequency governor, throttling: where the kernel reports them
        "board_facts": board_facts(),
    }


def cpu_features() -> frozenset[str]:
    """The relevant ISA flags of this CPU, as the OS reports them (for recipes' choices);
    none under emulation, where /proc/cpuinfo describes the host."""
    cpuinfo = _cpuinfo()
    return frozenset() if emulation(cpuinfo) else frozenset(isa_flags(cpuinfo))


def is_arm() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64", "armv8l", "armv7l")


def reset_peak_memory() -> bool:
    """Restart the kernel's resident-memory high-water mark (VmHWM) from now, so that a
    run's peak leaves out a quantizer that ran in the same process; False where the
    kernel does not allow it (not Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb() -> dict:
    """This process's peak resident memory so far, as the kernel counts it."""
    import resource

    peak = {}
    try:  # VmHWM: the kernel's high-water mark of resident memory
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak["vm_hwm_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    peak["ru_maxrss_mb"] = round(maxrss / (2**20 if platform.system() == "Darwin" else 1024), 1)
    peak["peak_rss_mb"] = peak.get("vm_hwm_mb", peak["ru_maxrss_mb"])
    return peak
