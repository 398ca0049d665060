"""How edgebench's runs are named in a submission: division, system, benchmark, scenario.

edgebench's models are not MLPerf's closed-division ResNet-50 (its reference weights,
the full validation set), so every run goes to the open division. There a submitter
names the model as it is and maps it to the MLPerf benchmark whose rules it runs under
(`model_mapping.json`); an image classifier runs under `resnet`'s. The runtime is part of
the system's name and the precision and quantizer part of the model's, as open-division
submitters write them (`mobilenet_v2-int8-static-nncf` on `vm-onnxruntime`).
"""

from __future__ import annotations

import re

from harness.core.records import ResultRecord

DIVISION = "open"
# the MLPerf benchmark whose rules (mlperf.conf's resnet50 entries) edgebench's runs take
MLPERF_BENCHMARK = "resnet"
# edgebench's scenario names -> MLPerf's (directory names and the checker's spelling)
MLPERF_SCENARIOS = {"single-stream": "SingleStream", "multi-stream": "MultiStream",
                    "offline": "Offline"}
# an edge system must have these (the checker's required-scenarios-edge)
EDGE_SCENARIOS = tuple(MLPERF_SCENARIOS.values())


def _safe(text: str) -> str:
    """A name the tree and the checker's paths take: letters, digits, '-', '_', '.'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text)
    return re.sub(r"_*-_*", "-", safe).strip("_-") or "unnamed"


def system_id(record: ResultRecord) -> str:
    """One system per device and runtime: the runtime is part of what was measured."""
    return _safe(f"{record.device}-{record.backend}-{record.backend_version or 'unknown'}")


def benchmark_name(record: ResultRecord) -> str:
    """The model as run: its name, precision and (where chosen) quantizer."""
    quantizer = (record.configuration or {}).get("quantizer")
    parts = [record.model, record.precision, *([quantizer] if quantizer not in
                                               (None, "None") else [])]
    return _safe("-".join(parts))


def scenario_dir(record: ResultRecord) -> str:
    return MLPERF_SCENARIOS[record.scenario]
