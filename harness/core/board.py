"""Facts of a single-board computer that change its numbers: the board, its SoC
temperature, the CPU frequency governor, and whether it throttled or lacked power.

Everything is read from the kernel's files (under `root`, so tests can feed captured
ones) or from `vcgencmd` where the Raspberry Pi firmware tool exists; a machine
without a file simply lacks that fact.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path("/")
# Raspberry Pi firmware's get_throttled bits (vcgencmd documentation)
THROTTLE_BITS = {
    0: "under-voltage", 1: "arm frequency capped", 2: "throttled", 3: "soft temperature limit",
}
OCCURRED_SHIFT = 16  # the same four conditions, "has occurred since boot"


# how a run's warning that the board throttled begins (reports flag such runs)
THROTTLED = "THROTTLED"

def _read(root: Path, relative: str) -> str | None:
    try:
        return (root / relative).read_text(errors="replace").strip("\x00 \n")
    except OSError:
        return None


def board_model(root: Path = ROOT) -> str | None:
    return _read(root, "proc/device-tree/model") or None


def soc_temperature_c(root: Path = ROOT) -> float | None:
    """The hottest thermal zone (on a Pi, the SoC's: thermal_zone0, 'cpu-thermal')."""
    readings = []
    for zone in sorted((root / "sys/class/thermal").glob("thermal_zone*")):
        value = _read(zone, "temp")
        if value and value.lstrip("-").isdigit():
            readings.append(int(value) / 1000)
    return max(readings) if readings else None


def cpu_frequency(root: Path = ROOT) -> dict:
    cpufreq = "sys/devices/system/cpu/cpu0/cpufreq"
    governor = _read(root, f"{cpufreq}/scaling_governor")
    current = _read(root, f"{cpufreq}/scaling_cur_freq")
    maximum = _read(root, f"{cpufreq}/scaling_max_freq")
    facts = {}
    if governor:
        facts["governor"] = governor
    if current and current.isdigit():
        facts["current_mhz"] = int(current) // 1000
    if maximum and maximum.isdigit():
        facts["max_mhz"] = int(maximum) // 1000
    return facts


def decode_throttled(value: int) -> dict:
    return {"raw": hex(value),
            "now": [name for bit, name in THROTTLE_BITS.items() if value >> bit & 1],
            "since_boot": [name for bit, name in THROTTLE_BITS.items()
                           if value >> (bit + OCCURRED_SHIFT) & 1]}


def throttling(root: Path = ROOT, vcgencmd: str | None = None) -> dict | None:
    """The firmware's throttling flags: `vcgencmd get_throttled`, else the kernel's copy
    of them, else the under-voltage alarm of the Pi's voltage monitor; None elsewhere."""
    tool = vcgencmd if vcgencmd is not None else (shutil.which("vcgencmd")
                                                   if root == ROOT else None)
    if tool:
        try:
            out = subprocess.run([tool, "get_throttled"], capture_output=True, text=True,
                                 timeout=5).stdout
            if "=" in out:
                return {"source": "vcgencmd get_throttled",
                        **decode_throttled(int(out.split("=", 1)[1].strip(), 16))}
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    firmware = _read(root, "sys/devices/platform/soc/soc:firmware/get_throttled")
    if firmware:
        try:
            return {"source": "/sys/devices/platform/soc/soc:firmware/get_throttled",
                    **decode_throttled(int(firmware, 16))}
        except ValueError:
            pass
    for monitor in sorted((root / "sys/class/hwmon").glob("hwmon*")):
        if _read(monitor, "name") == "rpi_volt":
            alarm = _read(monitor, "in0_lcrit_alarm")
            if alarm in ("0", "1"):
                return {"source": f"hwmon rpi_volt in0_lcrit_alarm ({monitor.name})",
                        "raw": alarm, "now": ["under-voltage"] if alarm == "1" else [],
                        "since_boot": []}
    return None


def board_facts(root: Path = ROOT, vcgencmd: str | None = None) -> dict:
    """What `system` records at the start of a run (and `board_facts_end` at its end)."""
    facts: dict = {}
    temperature = soc_temperature_c(root)
    if temperature is not None:
        facts["soc_temperature_c"] = temperature
    frequency = cpu_frequency(root)
    if frequency:
        facts["cpu_frequency"] = frequency
    flags = throttling(root, vcgencmd)
    if flags is not None:
        facts["throttling"] = flags
    return facts


def throttled_during(start: dict, end: dict) -> str | None:
    """A warning when the board throttled or lacked power during the run, else None."""
    before, after = start.get("throttling"), end.get("throttling")
    if after is None:
        return None
    new = [name for name in after["since_boot"]
           if before is None or name not in before["since_boot"]]
    happened = sorted(set(after["now"]) | set(new))
    if not happened:
        return None
    return (f"{THROTTLED}: the board reported {', '.join(happened)} during the run "
            f"({after['source']} {after['raw']}); its timings are not the board's best")
