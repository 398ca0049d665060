"""hwmon sensors (`/sys/class/hwmon/hwmon*/`): an energy counter (`energy*_input`,
microjoules, as AMD's amd_energy gives per core and socket) or, failing that, a power
reading (`power*_input` or `power*_average`, microwatts, as some boards and USB-C PD
controllers give), sampled and integrated. The first device with one is used.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.energy.meter import CounterDomain, EnergyUnavailable, Probe, SampledMeter

HWMON = "sys/class/hwmon"
MICRO = 1e-6
INTERVAL_S = 0.2  # for power readings; 64-bit energy counters do not wrap in a run


def _label(sensor: Path) -> str:
    label = sensor.parent / sensor.name.replace("_input", "_label").replace(
        "_average", "_label")
    try:
        return label.read_text().strip() or sensor.name
    except OSError:
        return sensor.name.split("_")[0]


def summed_sensors(names: list[str]) -> list[str]:
    """Sockets where a device gives sockets and cores both (amd_energy), else all."""
    sockets = [n for n in names if "socket" in n.split("/")[-1].lower()]
    return sockets or names


def _device(root: Path) -> tuple[Path, list[Path], bool]:
    folder = root / HWMON
    if not folder.is_dir():
        raise EnergyUnavailable(f"no /{HWMON}")
    for device in sorted(folder.glob("hwmon*")):
        energy = sorted(device.glob("energy*_input"))
        if energy:
            return device, energy, True
    for device in sorted(folder.glob("hwmon*")):
        power = sorted(device.glob("power*_input")) or sorted(device.glob("power*_average"))
        if power:
            return device, power, False
    raise EnergyUnavailable(f"no hwmon device under /{HWMON} gives energy*_input or "
                            "power*_input")


def open_hwmon(probe: Probe) -> SampledMeter:
    device, sensors, is_counter = _device(Path(probe.root))
    try:
        name = (device / "name").read_text().strip()
    except OSError:
        name = device.name
    files = {f"{name}/{_label(sensor)}": sensor for sensor in sensors}
    try:
        for path in files.values():
            path.read_text()
    except PermissionError:
        raise EnergyUnavailable(f"hwmon {name}'s sensors are readable by root only: run "
                                "edgebench as root, or a udev rule that makes them "
                                "readable") from None
    what = "energy counters" if is_counter else "power readings"
    covers = (f"what hwmon device {name!r}'s {what} measure ({', '.join(files)}): its "
              "driver's documentation says which part of the machine that is")

    def read() -> dict[str, float]:
        values = {label: float(path.read_text()) for label, path in files.items()}
        return values if is_counter else {k: v * MICRO for k, v in values.items()}

    counters = {label: CounterDomain(MICRO, "uJ", None) for label in files} \
        if is_counter else None
    return SampledMeter(read, covers, 1.0 if is_counter else INTERVAL_S, counters=counters,
                        summed=summed_sensors)
