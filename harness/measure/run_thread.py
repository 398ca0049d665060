"""The run thread: one worker owns the backend from its build to LoadGen's last query,
while the main thread reports progress and stays free to notice Ctrl-C and SIGTERM."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from harness.core.progress import say

PROGRESS_EVERY_S = 30.0
Result = TypeVar("Result")


class RunStatus:
    """What the main thread reports while the run thread works."""

    def __init__(self):
        self.sut = None  # the SUT LoadGen is driving, once it is
        self.min_duration_s = 0.0
        self.loadgen_started = 0.0

    def report(self) -> None:
        if self.sut is not None:
            say(f"  running: {time.monotonic() - self.loadgen_started:.0f} s, "
                f"{self.sut.answered_samples} samples answered "
                f"(LoadGen's minimum duration: {self.min_duration_s:.0f} s)")


def on_run_thread(work: Callable[[RunStatus], Result]) -> Result:
    """Run `work` on one worker thread while the main thread reports progress.

    LoadGen blocks in C++, so the main thread must not be the one it runs on. The
    backend is built, probed and driven by LoadGen all on the worker: LoadGen calls the
    SUT from the thread that starts the test, and PyTorch ran at half speed here on a
    thread other than the one that first used its OpenMP pool (measured; most likely
    libgomp throttling its spin-wait once two pools exist on few cores).
    """
    status, outcome = RunStatus(), {}

    def target() -> None:
        try:
            outcome["result"] = work(status)
        except BaseException as exc:  # handed to the main thread, raised there
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="edgebench-run", daemon=True)
    next_report = time.monotonic() + PROGRESS_EVERY_S
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        if time.monotonic() > next_report:
            status.report()
            next_report += PROGRESS_EVERY_S
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
