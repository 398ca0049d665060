"""What else the machine was doing while a run measured: CPU time stolen by the
hypervisor (a VM's /proc/stat `steal`), the CPU share of every other process, the load
average and the clock. A shared machine makes a run slow without telling it; this makes
it tell.

Read with psutil (system-wide CPU times, this process's own CPU time). The shares are of
all logical CPUs' time over the window.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

# Past these shares of the machine's CPU time, a run is flagged "noisy machine".
NOISY_STEAL_SHARE = 0.05
NOISY_OTHERS_SHARE = 0.10


def _busy_and_total(times) -> tuple[float, float, float]:
    """(busy, total, steal) seconds from psutil.cpu_times(); guest time is already in
    user time on Linux, so it is not added twice."""
    fields = times._asdict()
    total = sum(v for k, v in fields.items() if k not in ("guest", "guest_nice"))
    idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0)
    steal = fields.get("steal", 0.0)
    return total - idle - steal, total, steal


def _own_cpu_s() -> float:
    own = psutil.Process().cpu_times()
    return own.user + own.system + own.children_user + own.children_system


def _frequency_mhz() -> float | None:
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError):
        return None
    return round(freq.current, 1) if freq and freq.current else None


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


@dataclass
class LoadWindow:
    """Opened at the start of the measured window, closed at its end."""

    busy_s: float
    total_s: float
    steal_s: float
    own_s: float
    wall_started: float
    frequency_mhz_start: float | None
    load_average_start: float | None

    @classmethod
    def open(cls) -> LoadWindow:
        busy, total, steal = _busy_and_total(psutil.cpu_times())
        return cls(busy, total, steal, _own_cpu_s(), time.monotonic(), _frequency_mhz(),
                   _load_average())

    def close(self) -> dict:
        """The window's figures, and whether they pass the noisy-machine thresholds."""
        busy, total, steal = _busy_and_total(psutil.cpu_times())
        elapsed = total - self.total_s
        own = _own_cpu_s() - self.own_s
        if elapsed <= 0:
            steal_share = others_share = None
        else:
            steal_share = max(0.0, (steal - self.steal_s) / elapsed)
            others_share = max(0.0, (busy - self.busy_s - own) / elapsed)
        noisy = (steal_share is not None and steal_share > NOISY_STEAL_SHARE) or \
            (others_share is not None and others_share > NOISY_OTHERS_SHARE)
        return {
            "window_s": round(time.monotonic() - self.wall_started, 2),
            "steal_share": None if steal_share is None else round(steal_share, 4),
            "others_share": None if others_share is None else round(others_share, 4),
            "own_cpu_s": round(own, 2),
            "load_average_1m_start": self.load_average_start,
            "load_average_1m_end": _load_average(),
            "cpu_frequency_mhz_start": self.frequency_mhz_start,
            "cpu_frequency_mhz_end": _frequency_mhz(),
            "noisy": noisy,
            "thresholds": {"steal_share": NOISY_STEAL_SHARE,
                           "others_share": NOISY_OTHERS_SHARE},
            "source": "psutil: system CPU times (/proc/stat) less this process's own",
        }


def machine_busy_share(seconds: float = 1.0) -> tuple[float, float]:
    """(others' busy share, steal share) of the machine over the next `seconds`, with
    this process idle: what a sweep waits on before a cell (`--wait-quiet`)."""
    window = LoadWindow.open()
    time.sleep(seconds)
    figures = window.close()
    return figures["others_share"] or 0.0, figures["steal_share"] or 0.0


def is_quiet(others_share: float, steal_share: float) -> bool:
    return others_share <= NOISY_OTHERS_SHARE and steal_share <= NOISY_STEAL_SHARE
