"""Linux powercap RAPL (`/sys/class/powercap/intel-rapl:*`): the CPU's own energy
counters, on Intel and, through the same driver since Linux 5.8, on AMD Zen.

Each zone has `name` (package-0, core, uncore, dram, psys), `energy_uj` (microjoules,
wrapping at `max_energy_range_uj`). Packages and DRAM are summed; core and uncore are
parts of their package and psys (the platform) contains it, so they are recorded, not
added. Since the 2020 PLATYPUS fix (CVE-2020-8694) `energy_uj` is readable by root only.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.energy.meter import CounterDomain, EnergyUnavailable, Probe, SampledMeter

POWERCAP = "sys/class/powercap"
MICROJOULE = 1e-6
# Sampled at least this often; and often enough that even this power could not run the
# smallest zone's counter through a whole wrap between two readings.
INTERVAL_S = 1.0
WRAP_GUARD_W = 1000.0
UDEV_RULE = ('ACTION=="add", SUBSYSTEM=="powercap", KERNEL=="intel-rapl:*", '
             'RUN+="/bin/chmod 0444 /sys%p/energy_uj"')
ROOT_ONLY = ("powercap RAPL's energy_uj is readable by root only (the 2020 PLATYPUS fix, "
             "CVE-2020-8694): run edgebench as root, or let others read it with a udev rule "
             f"in /etc/udev/rules.d/99-edgebench-rapl.rules: {UDEV_RULE}")


def _zones(root: Path) -> list[Path]:
    folder = root / POWERCAP
    if not folder.is_dir():
        raise EnergyUnavailable(f"no /{POWERCAP} (no powercap driver: a VM, or the "
                                "intel_rapl_common module is not loaded)")
    zones = sorted(z for z in folder.glob("intel-rapl:*") if (z / "energy_uj").exists())
    if not zones:
        raise EnergyUnavailable(f"/{POWERCAP} has no intel-rapl zone with energy_uj")
    return zones


def _domain_name(zone: Path) -> str:
    """package-0, package-0/core, package-0/dram: a sub-zone is named under its package."""
    name = (zone / "name").read_text().strip()
    parent = zone.parent / zone.name.rsplit(":", 1)[0]
    if zone.name.count(":") > 1 and (parent / "name").exists():
        return f"{(parent / 'name').read_text().strip()}/{name}"
    return name


def summed_domains(names: list[str]) -> list[str]:
    """Packages and DRAM: what the figure adds up (core and uncore are inside a package,
    psys contains it)."""
    return [name for name in names if name.split("/")[-1].startswith("package")
            or name.split("/")[-1] == "dram"]


def open_rapl(probe: Probe) -> SampledMeter:
    zones = _zones(Path(probe.root))
    counters: dict[str, CounterDomain] = {}
    files: dict[str, Path] = {}
    for zone in zones:
        try:
            (zone / "energy_uj").read_text()
        except PermissionError:
            raise EnergyUnavailable(ROOT_ONLY) from None
        name = _domain_name(zone)
        max_range = float((zone / "max_energy_range_uj").read_text())
        counters[name] = CounterDomain(MICROJOULE, "uJ", max_range)
        files[name] = zone / "energy_uj"
    smallest_j = min(c.max_range for c in counters.values()) * MICROJOULE
    interval = min(INTERVAL_S, smallest_j / WRAP_GUARD_W / 2)
    kinds = [name.split("/")[-1] for name in summed_domains(list(counters))]
    covers = ("the CPU package" + ("s" if sum(k.startswith("package") for k in kinds) > 1
                                   else "")
              + (" and DRAM" if "dram" in kinds else "")
              + " (RAPL's model of them): not the board, fans, disks or the supply's losses")

    def read() -> dict[str, float]:
        return {name: float(path.read_text()) for name, path in files.items()}

    return SampledMeter(read, covers, interval, counters=counters, summed=summed_domains)
