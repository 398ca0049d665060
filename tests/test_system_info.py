from harness.core import system_info

X86 = [{"processor": "0", "model name": "Intel(R) Core(TM) i7-1185G7",
        "flags": "fpu sse4_2 avx avx2 avx512f avx512_vnni avx512_bf16 amx_tile"}]
PI = [{"processor": "0", "features": "fp asimd evtstrm crc32 cpuid asimdhp fphp asimddp"},
      {"hardware": "BCM2835", "model": "Raspberry Pi 5 Model B Rev 1.0"}]


def test_x86_flags_and_name():
    assert system_info.cpu_name(X86) == "Intel(R) Core(TM) i7-1185G7"
    flags = system_info.isa_flags(X86)
    assert {"avx512_vnni", "avx512_bf16", "amx_tile"} <= set(flags)
    assert "fpu" not in flags and "asimddp" not in flags


def test_arm_flags_and_board_name():
    assert system_info.cpu_name(PI) == "Raspberry Pi 5 Model B Rev 1.0"
    assert system_info.isa_flags(PI) == ["asimd", "asimdhp", "fphp", "asimddp"]


def test_this_machine_is_described():
    system = system_info.describe_system()
    assert set(system) >= {"cpu", "arch", "cores_physical", "cores_logical", "isa_flags",
                           "memory_gb", "os", "python"}
    assert 1 <= system["cores_physical"] <= system["cores_logical"]
    assert system["memory_gb"] > 0
