"""Progress and warnings for people, on stderr so stdout stays the results.

While a converter or quantizer runs, the process's stdout and stderr go to a build log
(`quiet_build_output`), because TensorFlow, absl and NNCF write from C++ and from
their own threads; our own progress still reaches the person, through `console()`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")
_console: TextIO | None = None  # set while build output is redirected


def console() -> TextIO:
    """Where people read progress: the real stderr, even during a quiet build."""
    return _console or sys.stderr


def say(message: str) -> None:
    print(message, file=console(), flush=True)


def progress(items: Iterable[Item], total: int, description: str) -> Iterator[Item]:
    """A progress bar on a terminal; on a pipe or file, a start and an end line."""
    stream = console()
    if stream.isatty():
        yield from tqdm(items, total=total, desc=f"  {description}", unit="img", file=stream,
                        leave=False)
        return
    say(f"  {description}: {total} images ...")
    started = time.monotonic()
    yield from items
    say(f"  {description}: {total} images done in {time.monotonic() - started:.0f} s")


@contextlib.contextmanager
def quiet_build_output(log_path: Path) -> Iterator[None]:
    """Send everything written to fds 1 and 2 (Python, C++, threads) to `log_path`."""
    global _console
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    previous = _console
    with open(log_path, "ab", buffering=0) as log:
        # nested builds (a quantized model built from its FP32 artifact) keep the console
        real = previous.fileno() if previous is not None else saved_err
        _console = os.fdopen(os.dup(real), "w", buffering=1)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            _console.close()
            _console = previous
