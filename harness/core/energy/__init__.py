"""Energy per inference from what the machine itself can tell, each source a registry
entry tried in order: the user's meter where one is given (`--energy-command`: the user
asked for it), then RAPL through powercap, RAPL through perf, the Raspberry Pi 5's PMIC
and hwmon sensors. The first that can be read measures; each other says why it did not.
Where none can, a result says so with every reason: never a zero, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.core.energy.command import open_command
from harness.core.energy.hwmon import open_hwmon
from harness.core.energy.meter import Meter, Probe, reason_of
from harness.core.energy.perf import open_perf
from harness.core.energy.pi_pmic import open_pi_pmic
from harness.core.energy.rapl import open_rapl
from harness.core.registry import Registry

USED = "used"


@dataclass(frozen=True)
class EnergySource:
    name: str
    open: Callable[[Probe], Meter]  # raises EnergyUnavailable with the reason
    reads: str  # what it reads, for `info` and the README


ENERGY_SOURCES: Registry[EnergySource] = Registry("energy source")
for _source in (
    EnergySource("energy-command", open_command, "--energy-command: the user's meter"),
    EnergySource("powercap-rapl", open_rapl, "/sys/class/powercap/intel-rapl:* energy_uj"),
    EnergySource("perf-rapl", open_perf, "perf stat -a -e power/energy-pkg/"),
    EnergySource("pi5-pmic", open_pi_pmic, "vcgencmd pmic_read_adc, rails sampled"),
    EnergySource("hwmon", open_hwmon, "/sys/class/hwmon/*/energy*_input or power*_input"),
):
    ENERGY_SOURCES.register(_source.name, _source)


def probe_of(command: str | None = None, root: Path = Path("/"),
             tools: dict[str, str | None] | None = None) -> Probe:
    return Probe(root=root, command=command, tools=tools or {})


def _opened(source: EnergySource, probe: Probe) -> Meter | str:
    """The source's meter, or why it cannot be read here."""
    try:
        return source.open(probe)
    except Exception as exc:  # a source that breaks costs its figure, never the run
        return reason_of(exc)


def first_meter(probe: Probe) -> tuple[str | None, Meter | None, dict[str, str]]:
    """The first source that opens, its meter, and what each source tried said."""
    tried: dict[str, str] = {}
    for name, source in ENERGY_SOURCES.items():
        opened = _opened(source, probe)
        if isinstance(opened, str):
            tried[name] = opened
            continue
        tried[name] = USED
        return name, opened, tried
    return None, None, tried


def source_states(probe: Probe) -> dict[str, str]:
    """Every source's state on this machine ("available" or why not), for `info`."""
    states = {}
    for name, source in ENERGY_SOURCES.items():
        opened = _opened(source, probe)
        if not isinstance(opened, str):
            opened.close()
        states[name] = opened if isinstance(opened, str) else "available"
    return states


def unsupported_reason(tried: dict[str, str]) -> str:
    return "no energy source can be read here: " + "; ".join(
        f"{name}: {reason}" for name, reason in tried.items())
