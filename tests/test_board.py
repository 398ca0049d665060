"""Board facts read from captured Raspberry Pi 4 and Pi 5 files; the default thread
count under an affinity mask and a cgroup quota; INT8 engine and format per CPU."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.core import board, system_info

BOARDS = Path(__file__).resolve().parent / "data" / "boards"


def _cpuinfo(name: str) -> list[dict[str, str]]:
    return system_info._cpuinfo(BOARDS / name)


def test_pi4_facts():
    root = BOARDS / "pi4"
    assert board.board_model(root) == "Raspberry Pi 4 Model B Rev 1.5"
    facts = board.board_facts(root)
    assert facts["soc_temperature_c"] == pytest.approx(61.342)
    assert facts["cpu_frequency"] == {"governor": "ondemand", "current_mhz": 1500,
                                      "max_mhz": 1800}
    throttling = facts["throttling"]
    assert throttling["source"].endswith("soc:firmware/get_throttled")
    assert throttling["now"] == ["under-voltage", "throttled"]
    assert throttling["since_boot"] == ["under-voltage", "throttled"]
    # a Pi 4 has no dot-product instructions: INT8 runs on plain NEON
    assert system_info.isa_flags(_cpuinfo("pi4")) == ["asimd"]
    assert system_info.cpu_name(_cpuinfo("pi4")) == "Raspberry Pi 4 Model B Rev 1.5"


def test_pi5_facts():
    root = BOARDS / "pi5"
    facts = board.board_facts(root)
    assert facts["soc_temperature_c"] == pytest.approx(48.65)
    assert facts["cpu_frequency"]["max_mhz"] == 2400
    assert facts["throttling"]["source"].startswith("hwmon rpi_volt")
    assert facts["throttling"]["now"] == []
    assert system_info.isa_flags(_cpuinfo("pi5")) == ["asimd", "asimdhp", "fphp", "asimddp"]


def test_vcgencmd_is_read_when_present(tmp_path):
    tool = tmp_path / "vcgencmd"
    tool.write_text("#!/bin/sh\necho throttled=0x20000\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    flags = board.throttling(BOARDS / "pi5", vcgencmd=str(tool))
    assert flags == {"source": "vcgencmd get_throttled", "raw": "0x20000", "now": [],
                     "since_boot": ["arm frequency capped"]}


def test_throttling_during_a_run_is_a_warning():
    calm = {"throttling": board.decode_throttled(0x0) | {"source": "vcgencmd"}}
    before = {"throttling": board.decode_throttled(0x40000) | {"source": "vcgencmd"}}
    throttled = {"throttling": board.decode_throttled(0x40004) | {"source": "vcgencmd"}}
    occurred = {"throttling": board.decode_throttled(0x50000) | {"source": "vcgencmd"}}
    assert board.throttled_during(calm, calm) is None
    assert "throttled" in board.throttled_during(calm, throttled)
    # under-voltage newly seen since boot: it happened during the run
    assert "under-voltage" in board.throttled_during(before, occurred)
    # throttled before the run and not now: not this run's doing
    assert board.throttled_during(before, before) is None
    assert board.throttled_during({}, {}) is None


def test_default_threads_follow_the_affinity_mask_and_cgroup_quota(tmp_path):
    root = BOARDS / "pi4"
    assert system_info.usable_cores(root, affinity={0, 1, 2, 3})[0] == 4
    threads, basis = system_info.usable_cores(root, affinity={2, 3})
    assert threads == 2 and "affinity mask" in basis
    limited = tmp_path / "root"
    (limited / "sys/fs/cgroup").mkdir(parents=True)
    (limited / "sys/fs/cgroup/cpu.max").write_text("150000 100000\n")
    for cpu in range(4):
        topology = limited / f"sys/devices/system/cpu/cpu{cpu}/topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text("0")
        (topology / "core_id").write_text(str(cpu))
    threads, basis = system_info.usable_cores(limited, affinity={0, 1, 2, 3})
    assert threads == 2 and "cgroup CPU quota of 1.5 cores" in basis
    (limited / "sys/fs/cgroup/cpu.max").write_text("max 100000\n")
    assert system_info.usable_cores(limited, affinity={0, 1, 2, 3})[0] == 4


@pytest.mark.parametrize("machine, engine, fmt", [
    ("aarch64", "qnnpack", "s8s8"), ("x86_64", "x86", "u8s8")])
def test_int8_engine_and_format_follow_the_architecture(monkeypatch, machine, engine, fmt):
    import platform

    from backends.onnxruntime.quantize import int8_format
    from backends.pytorch.quantize import quantized_engine

    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert quantized_engine() == engine
    choice = int8_format()
    assert choice["format"] == fmt and choice["activation_type"] == (
        "uint8" if fmt == "u8s8" else "int8")
    if machine == "aarch64":
        assert not choice["reduce_range"]  # 7-bit weights are an x86-without-VNNI remedy


def test_emulation_is_recognised_from_a_host_cpuinfo(monkeypatch):
    import platform

    monkeypatch.delenv("EDGEBENCH_EMULATED", raising=False)
    x86 = [{"processor": "0", "vendor_id": "AuthenticAMD", "flags": "fpu avx2 avx512f"}]
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert "qemu-user" in system_info.emulation(x86)
    assert system_info.emulation(_cpuinfo("pi5")) is None  # a real board
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert system_info.emulation(x86) is None
    monkeypatch.setenv("EDGEBENCH_EMULATED", "1")
    assert system_info.emulation(x86) == "EDGEBENCH_EMULATED=1"
