"""Progress and warnings for people, on stderr so stdout stays the results."""

import sys


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
