"""A run's energy window: idle power for a few seconds with the model loaded, then the
energy over LoadGen's run, per inference, as the `energy` part of result.json."""

from __future__ import annotations

import time

from harness.core.energy import (
    first_meter,
    probe_of,
    unsupported_reason,
)
from harness.core.energy.meter import Meter, Reading, reason_of
from harness.core.progress import say
from harness.core.record_parts import Energy

# long enough for a few of the slowest source's readings (5 a second) and RAPL's 1 ms
# updates to average out; short beside any run
IDLE_S = 3.0
# which window a figure covers
TIMED_WINDOW = ("LoadGen's timed window: power_begin to power_end of mlperf_log_detail.txt "
                "(the test's start to its last completion, as MLPerf's power track reads it)")
WHOLE_CALL = ("LoadGen's whole test call, its loading of samples into memory included: "
              "the source has no readings between its ends to cut at LoadGen's window")


def _record(reading: Reading) -> dict:
    return {"domains": reading.domains, "summed": reading.summed,
            "window_s": round(reading.window_s, 9), "joules": round(reading.joules, 9),
            "sampling_hz": reading.sampling_hz, "samples": reading.samples,
            "method": reading.method}


class EnergyWindow:
    """Opened just before LoadGen's run (after measuring idle), closed just after it."""

    def __init__(self, source: str | None, meter: Meter | None, tried: dict[str, str]):
        self.source, self.meter, self.tried = source, meter, tried
        self.idle: Reading | None = None
        self.failed: str | None = None

    @classmethod
    def open(cls, command: str | None, idle_s: float = IDLE_S, **probe) -> EnergyWindow:
        source, meter, tried = first_meter(probe_of(command, **probe))
        window = cls(source, meter, tried)
        if meter is None:
            return window
        try:
            say(f"measuring idle power for {idle_s:g} s ({source}) ...")
            meter.start()
            time.sleep(idle_s)
            window.idle = meter.stop()
            meter.start()
        except Exception as exc:  # a broken meter costs its figure, never the run
            window.fail(reason_of(exc))
        return window

    def fail(self, reason: str) -> None:
        """The source failed: the record says so, in its words, instead of a figure."""
        self.failed = f"the {self.source} source failed: {reason}"
        self.abandon()

    def close(self, inferences: int, timed: tuple[float, float] | None = None) -> Energy:
        """The record of LoadGen's timed window (`timed`: its ends, epoch s, as LoadGen
        logged them), cut from the readings around it; where the source has no readings
        between its ends (perf) or LoadGen logged none, of the whole reading.
        `inferences`: the samples answered in the window."""
        meter, reading = self.meter, None
        if meter is not None:
            try:
                reading = meter.stop()
            except Exception as exc:
                self.fail(reason_of(exc))
        self.meter = None
        if reading is None:
            return Energy(unsupported=self.failed or unsupported_reason(self.tried),
                          sources=self.tried)
        cut = reading.within(*timed) if timed else None
        if cut is not None:
            window = TIMED_WINDOW
        else:
            window = WHOLE_CALL + ("" if timed else " (LoadGen logged no timed window)")
            cut = reading
        idle_w = self.idle.joules / self.idle.window_s if self.idle.window_s > 0 else None
        energy = Energy(source=self.source, sources=self.tried, covers=meter.covers,
                        window=window, **_record(cut),
                        idle_window_s=round(self.idle.window_s, 9),
                        idle_power_w=None if idle_w is None else round(idle_w, 6),
                        inferences=inferences)
        if inferences:
            energy.joules_per_inference = round(cut.joules / inferences, 9)
            if idle_w is not None:
                energy.joules_per_inference_above_idle = round(
                    (cut.joules - idle_w * cut.window_s) / inferences, 9)
        return energy

    def abandon(self) -> None:
        """The run failed: let go of the meter (a perf process, a sampling thread)."""
        if self.meter is not None:
            self.meter.close()
            self.meter = None
