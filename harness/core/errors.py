"""The error types that reach the user as one line and exit code 2."""

EXIT_USAGE = 2  # an EdgebenchError: something the user can fix
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; the unfinished run was discarded


class EdgebenchError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits 2."""


class UsageError(EdgebenchError):
    """A bad choice or argument."""


class DatasetError(EdgebenchError):
    """A missing, empty or unreadable dataset or sample."""


class WeightsError(EdgebenchError):
    """A checkpoint that cannot be found, downloaded, verified or loaded."""


class ArtifactError(EdgebenchError):
    """A model conversion that failed."""


class Unsupported(Exception):  # noqa: N818 - a verdict about the machine, not a failure
    """This runtime cannot run this precision on this machine.

    Not an error: the run is recorded as unsupported, in the runtime's own words, and
    exits 0. Never replaced by another precision.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class QuantizationError(EdgebenchError):
    """A converter or quantizer that failed; nothing was cached."""
