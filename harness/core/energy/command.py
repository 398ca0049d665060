"""The user's own meter: `--energy-command CMD`, a shell command that prints either
cumulative energy (`1234.5 J`, also kJ, mJ, Wh, kWh, mWh) or power now (`3.2 W`, also mW,
kW). Energy is read at the window's ends (and each second between, to catch a meter
that fails); power is sampled as often as the command answers, at most 5 times a second,
and integrated. For a USB power meter's or a smart plug's command-line tool.
"""

from __future__ import annotations

import functools
import re
import subprocess

from harness.core.energy.meter import CounterDomain, EnergyUnavailable, Probe, SampledMeter
from harness.core.errors import UsageError

ENERGY_UNITS = {"J": 1.0, "kJ": 1e3, "mJ": 1e-3, "Wh": 3600.0, "kWh": 3.6e6, "mWh": 3.6}
POWER_UNITS = {"W": 1.0, "kW": 1e3, "mW": 1e-3}
VALUE = re.compile(r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(kWh|mWh|Wh|kJ|mJ|J|kW|mW|W)\b")
TIMEOUT_S = 10
ENERGY_INTERVAL_S = 1.0
POWER_INTERVAL_S = 0.2
DOMAIN = "meter"
COVERS = "whatever the user's meter measures (--energy-command): a wall plug sees the board"


def parse_meter(text: str) -> tuple[str, float]:
    """('energy', joules) or ('power', watts) from the last value with a unit printed."""
    found = VALUE.findall(text)
    if not found:
        raise ValueError(f"printed {' '.join(text.split())[:80]!r}: no number with a unit")
    number, unit = found[-1]
    if unit in ENERGY_UNITS:
        return "energy", float(number) * ENERGY_UNITS[unit]
    return "power", float(number) * POWER_UNITS[unit]


def run_meter(command: str) -> tuple[str, float]:
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ValueError(f"did not answer within {TIMEOUT_S} s") from None
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[:200]
        raise ValueError(f"exited {done.returncode}" + (f": {said}" if said else ""))
    return parse_meter(done.stdout)


@functools.cache  # a sweep checks every cell's configuration: the meter is asked once
def check_command(command: str) -> str:
    """Run the meter once before anything slow; one line naming the fix if it is not one."""
    try:
        kind, _ = run_meter(command)
    except ValueError as exc:
        raise UsageError(f"--energy-command {command!r} {exc}; it must print cumulative "
                         "energy ('1234.5 J', or kJ, mJ, Wh, kWh, mWh) or power now "
                         "('3.2 W', or mW, kW)") from None
    return kind


def open_command(probe: Probe) -> SampledMeter:
    if not probe.command:
        raise EnergyUnavailable("no --energy-command given")
    try:
        kind, _ = run_meter(probe.command)
    except ValueError as exc:
        raise EnergyUnavailable(f"--energy-command {exc}") from None

    def read() -> dict[str, float]:
        try:
            now_kind, value = run_meter(probe.command)
        except ValueError as exc:
            raise EnergyUnavailable(f"--energy-command {exc}") from None
        if now_kind != kind:
            raise EnergyUnavailable(f"--energy-command printed {now_kind} after {kind}")
        return {DOMAIN: value}

    if kind == "energy":
        return SampledMeter(read, COVERS, ENERGY_INTERVAL_S,
                            counters={DOMAIN: CounterDomain(1.0, "J", None)})
    return SampledMeter(read, COVERS, POWER_INTERVAL_S)
