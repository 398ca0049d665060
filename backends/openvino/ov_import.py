"""`openvino`, imported without its telemetry. Import OpenVINO through this module.

Importing openvino, and each convert_model, reports usage to Google Analytics from a
forked process, unasked, with no opt-out but a consent file in $HOME. A benchmark must
neither phone home nor fork mid-run (forking a process that runs JAX or OpenMP threads
can deadlock it). Hiding the telemetry package makes OpenVINO use its own no-op stub,
the path its code takes when openvino-telemetry is not installed.
"""

import sys

sys.modules.setdefault("openvino_telemetry", None)

import openvino as ov  # noqa: E402

__all__ = ["ov"]
