"""edgebench: MLPerf-style benchmarks of quantized DNN inference on edge CPUs."""

from importlib.metadata import PackageNotFoundError, version

try:  # pyproject.toml holds the version; the installed package's metadata says it
    __version__ = version("edgebench")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
