"""The Raspberry Pi 5's PMIC: `vcgencmd pmic_read_adc` gives each rail's current
(`VDD_CORE_A current(7)=0.75012000A`) and voltage (`VDD_CORE_V volt(15)=0.87V`). A
rail's power is its volts times its amps, matched by name; the rails are summed and
the sum sampled and integrated. The 5 V input (EXT5V_V) has no current channel, so the
figure is the rails the PMIC measures (SoC, DRAM, I/O), not what the board draws.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from harness.core.energy.meter import EnergyUnavailable, Probe, SampledMeter

# vcgencmd takes milliseconds on a Pi 5; 5 readings a second follow a run's power
# without costing its cores more than a few percent of one.
INTERVAL_S = 0.2
TIMEOUT_S = 5
LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([-+0-9.eE]+)[AV]\s*$")
COVERS = ("the Pi 5 PMIC's measured rails (SoC core, DRAM, I/O, each volts x amps): not "
          "the 5 V input (no current channel), USB devices or the supply's losses")


def parse_pmic(text: str) -> dict[str, float]:
    """Watts per rail that has both a current and a voltage line."""
    amps, volts = {}, {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            rail, kind, value = match.groups()
            (amps if kind == "A" else volts)[rail] = float(value)
    return {rail: volts[rail] * amps[rail] for rail in sorted(amps) if rail in volts}


def _tool(probe: Probe) -> str:
    given = probe.tools.get("vcgencmd")
    if given:
        return given
    found = shutil.which("vcgencmd") if Path(probe.root) == Path("/") else None
    if not found:
        raise EnergyUnavailable("no vcgencmd (not a Raspberry Pi, or its firmware tools "
                                "are not installed)")
    return found


def open_pi_pmic(probe: Probe) -> SampledMeter:
    tool = _tool(probe)

    def read() -> dict[str, float]:
        done = subprocess.run([tool, "pmic_read_adc"], capture_output=True, text=True,
                              timeout=TIMEOUT_S)
        rails = parse_pmic(done.stdout)
        if done.returncode != 0 or not rails:
            raise EnergyUnavailable(
                "vcgencmd pmic_read_adc gave no rail with both volts and amps (a Pi "
                "before the 5 has no PMIC ADC): "
                + (" ".join((done.stderr or done.stdout).split())[:200] or "no output"))
        return rails

    try:
        read()
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnergyUnavailable(f"vcgencmd pmic_read_adc failed: {exc}") from None
    return SampledMeter(read, COVERS, INTERVAL_S)
