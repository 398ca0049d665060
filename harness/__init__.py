"""edgebench: MLPerf-style benchmarks of quantized DNN inference on edge CPUs."""

__version__ = "0.1.0"
