"""`perf stat -a -e power/energy-pkg/`: the same RAPL counters through the kernel's perf
events, where powercap is absent or closed but the RAPL PMU is there. The kernel keeps
the count (it reads the hardware counter often enough that no wrap is lost), so there is
nothing to sample: perf counts from the window's start until it is interrupted at its
end, and says the joules itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness.core.energy.meter import COUNTER, EnergyUnavailable, Meter, Probe, Reading

EVENTS = "sys/bus/event_source/devices/power/events"
# perf's event -> the domain it measures
DOMAINS = {"energy-pkg": "package", "energy-ram": "dram", "energy-psys": "psys"}
SUMMED = ("package", "dram")
PARANOID = "proc/sys/kernel/perf_event_paranoid"
STOP_TIMEOUT_S = 10


def parse_perf_stat(text: str) -> dict[str, float]:
    """perf stat's CSV (-x,) lines, `value,unit,event,...`, as joules per domain."""
    found = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 3:
            continue
        event = fields[2].removeprefix("power/").rstrip("/")
        if event not in DOMAINS:
            continue
        try:
            found[DOMAINS[event]] = float(fields[0])
        except ValueError:
            raise EnergyUnavailable(f"perf could not count {fields[2]}: {fields[0]}") from None
    return found


class PerfMeter(Meter):
    def __init__(self, perf: str, events: list[str], covers: str):
        self.perf, self.events, self.covers = perf, events, covers
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [self.perf, "stat", "-a", "-x,"]
        for event in self.events:
            argv += ["-e", f"power/{event}/"]
        self._started = time.monotonic()
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True)

    def stop(self) -> Reading:
        process, self._process = self._process, None
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            raise EnergyUnavailable("perf stat did not stop when interrupted") from None
        window_s = time.monotonic() - self._started
        joules = parse_perf_stat(err)
        if not joules:
            raise EnergyUnavailable("perf stat printed no power count: "
                                    + " ".join(err.split())[:300])
        domains = {name: {"joules": round(value, 6)} for name, value in joules.items()}
        return Reading(window_s=window_s, domains=domains,
                       summed=[n for n in domains if n in SUMMED], samples=2, method=COUNTER)

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def open_perf(probe: Probe) -> PerfMeter:
    root = Path(probe.root)
    events_dir = root / EVENTS
    events = [e for e in DOMAINS if (events_dir / e).exists()]
    if "energy-pkg" not in events:
        raise EnergyUnavailable(f"no perf power events (/{EVENTS}/energy-pkg absent: no "
                                "RAPL PMU, as in most VMs)")
    perf = probe.tools.get("perf") or shutil.which("perf")
    if not perf:
        raise EnergyUnavailable("the perf power events are there but perf is not "
                                "installed (Debian: apt-get install linux-perf)")
    try:
        paranoid = int((root / PARANOID).read_text())
    except (OSError, ValueError):
        paranoid = 2
    if paranoid > 0 and os.geteuid() != 0:
        raise EnergyUnavailable(f"system-wide power events need root or "
                                f"kernel.perf_event_paranoid <= 0 (it is {paranoid}): "
                                "sudo sysctl kernel.perf_event_paranoid=0")
    covers = ("the CPU package" + (" and DRAM" if "energy-ram" in events else "")
              + " (RAPL through perf): not the board, fans, disks or the supply's losses")
    return PerfMeter(perf, [e for e in events if DOMAINS[e] in SUMMED], covers)
