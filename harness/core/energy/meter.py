"""A meter: one energy source opened for reading, and the arithmetic of its readings.

Two kinds of reading exist. A counter (RAPL's `energy_uj`, an hwmon `energy*_input`, a
meter that prints cumulative joules) gives energy since some origin: the window's energy
is its last value less its first, plus `max_range` for every time it wrapped in between.
A power reading (the Pi 5's PMIC rails, an hwmon `power*_input`, a meter that prints
watts) gives watts now: the window's energy is the trapezoid integral over the sampled
times. A `SampledMeter` reads its source on a thread, every `interval_s`, so that a
counter's wrap cannot pass unseen between two readings and a power curve is followed.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# how a meter's figure was obtained, as the record says it
COUNTER = "counter difference (last reading less the first, wraps added)"
INTEGRAL = "power sampled and integrated (trapezoid rule)"


class EnergyUnavailable(Exception):
    """A source that cannot be read here, with the reason in its own words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def reason_of(exc: Exception) -> str:
    """A source's own reason, or the error's words where it broke unexpectedly."""
    return exc.reason if isinstance(exc, EnergyUnavailable) else f"{type(exc).__name__}: {exc}"


@dataclass
class CounterDomain:
    """One counter's readings: first, last and wraps, in its own unit."""

    scale_j: float  # joules per counter unit (RAPL: 1e-6)
    unit: str
    max_range: float | None  # where it wraps; None: it does not (a 64-bit counter)
    first: float | None = None
    last: float | None = None
    wraps: int = 0
    total: float = 0.0  # in counter units, wraps included

    def add(self, value: float) -> None:
        if self.first is None:
            self.first = self.last = value
            return
        step = value - self.last
        if step < 0:
            if self.max_range is None:
                raise EnergyUnavailable(f"the counter went back from {self.last:g} to "
                                        f"{value:g} {self.unit} and has no known wrap point")
            step += self.max_range
            self.wraps += 1
        self.total += step
        self.last = value

    @property
    def joules(self) -> float:
        return self.total * self.scale_j


@dataclass
class Reading:
    """What a meter measured over one window."""

    window_s: float
    domains: dict[str, dict]  # name -> EnergyDomain's fields
    summed: list[str]
    samples: int
    method: str
    # per reading: its time (epoch s) and, per domain, the cumulative joules (a counter,
    # wraps included) or the watts (a power reading); empty where the source gives only
    # the window's total (perf)
    times: list[float] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)

    @property
    def joules(self) -> float:
        return sum(self.domains[name]["joules"] for name in self.summed)

    @property
    def sampling_hz(self) -> float | None:
        return round(self.samples / self.window_s, 3) if self.window_s > 0 else None

    def within(self, start: float, end: float) -> Reading | None:
        """The same readings cut to [start, end] (epoch s, inside the readings): a
        counter's cumulative joules interpolated at both ends, a power reading integrated
        between them. None where there is no series to cut."""
        if not self.times or not self.times[0] <= start < end <= self.times[-1]:
            return None
        inside = [t for t in self.times if start < t < end]
        domains = {name: {**self.domains.get(name, {}),
                          **_energy(self.method, self.times, values, start, end)}
                   for name, values in self.series.items()}
        return Reading(window_s=end - start, domains=domains, summed=self.summed,
                       samples=len(inside), method=self.method)


def _energy(method: str, times: list[float], values: list[float], start: float,
            end: float) -> dict:
    """A domain's joules between `start` and `end`: a cumulative counter interpolated at
    both ends, or power integrated by the trapezoid rule (with its mean)."""
    if method == COUNTER:
        return {"joules": round(float(np.interp(end, times, values)
                                      - np.interp(start, times, values)), 9)}
    points = [start, *(t for t in times if start < t < end), end]
    joules = float(np.trapezoid(np.interp(points, times, values), points))
    return {"joules": round(joules, 9),
            "mean_power_w": round(joules / (end - start), 6) if end > start else None}


class Meter(ABC):
    """An opened source: `start()` at the window's start, `stop()` at its end (the same
    meter may measure several windows one after another)."""

    covers: str  # what its figure covers, in words

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> Reading: ...

    @abstractmethod
    def close(self) -> None:
        """Let go of anything still running (a window left open by a failed run)."""


class SampledMeter(Meter):
    """Reads `read()` at the start, every `interval_s` on a thread, and at the stop.

    `read()` returns a value per domain: counter units for a counter meter
    (`counters` gives each one's scale and wrap point), watts for a power meter.
    """

    def __init__(self, read: Callable[[], dict[str, float]], covers: str,
                 interval_s: float, counters: dict[str, CounterDomain] | None = None,
                 summed: Callable[[list[str]], list[str]] | None = None,
                 clock: Callable[[], float] = time.time):
        self._read, self.covers, self.interval_s = read, covers, interval_s
        self._counter_template = counters
        self._summed = summed or (lambda names: names)
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def _sample(self) -> None:
        before = self._clock()
        try:
            values = self._read()
        except Exception as exc:  # a file that vanished, a value that is no number
            raise EnergyUnavailable(reason_of(exc)) from exc
        t = (before + self._clock()) / 2  # the reading's time: the middle of its call
        with self._lock:
            if self._counter_template is not None:
                for name, value in values.items():
                    self._counters[name].add(value)
                    self._series.setdefault(name, []).append(self._counters[name].joules)
            else:
                for name, watts in values.items():
                    self._series.setdefault(name, []).append(watts)
            self._times.append(t)

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self._sample()
            except Exception as exc:  # kept, said by stop(): the run is not lost
                self._error = exc
                return

    def start(self) -> None:
        self._counters = {name: CounterDomain(d.scale_j, d.unit, d.max_range)
                          for name, d in (self._counter_template or {}).items()}
        self._times: list[float] = []
        self._series: dict[str, list[float]] = {}
        self._error: Exception | None = None
        self._stopping.clear()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="energy-meter", daemon=True)
        self._thread.start()

    def stop(self) -> Reading:
        self.close()
        if self._error is not None:
            raise EnergyUnavailable(f"the source failed during the window: {self._error}")
        self._sample()
        # the counters' raw readings; every domain's joules from its series (`within`)
        domains = {name: {"counter_start": c.first, "counter_end": c.last,
                          "counter_unit": c.unit, "wraps": c.wraps, "max_range": c.max_range}
                   for name, c in self._counters.items()}
        method = COUNTER if self._counter_template is not None else INTEGRAL
        for name, values in self._series.items():  # read at start() and here: two at least
            domains[name] = {**domains.get(name, {}), **_energy(
                method, self._times, values, self._times[0], self._times[-1])}
        return Reading(window_s=self._times[-1] - self._times[0], domains=domains,
                       summed=self._summed(list(domains)), samples=len(self._times),
                       method=method, times=list(self._times), series=dict(self._series))

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


@dataclass
class Probe:
    """What a source's `open` gets: where the machine's files are (tests give a fake
    tree), the user's meter command, and the tools' paths (None: looked up on PATH)."""

    root: Path  # "/", or a fake tree
    command: str | None = None
    tools: dict[str, str | None] = field(default_factory=dict)
