"""`systems/<system>.json`: every field MLCommons' checker requires, from the machine
facts the runs recorded and, for what no machine can tell (availability, cooling, the
submitter's own words), from the user's `--system-facts FILE` (JSON or TOML)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.core.errors import UsageError
from harness.core.records import ResultRecord
from reports.submission.naming import DIVISION

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# What only the submitter can say; the checker wants a meaningful (non-empty) answer.
FROM_THE_SUBMITTER = {
    "status": "availability: 'available', 'preview' or 'rdi'",
    "cooling": "e.g. 'air, passive' or 'fan'",
    "host_storage_type": "e.g. 'microSD', 'NVMe SSD'",
    "host_memory_configuration": "e.g. '1x 8 GB LPDDR4X'",
}
FACTS_EXAMPLE = 'status = "available"\ncooling = "air"\nhost_storage_type = "NVMe SSD"\n' \
    'host_memory_configuration = "2x 12 GB DDR5"\n'


def read_facts(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        text = Path(path).read_text()
        facts = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--system-facts {path}: {exc}; write TOML lines like "
                         "status = \"available\"") from None
    if not isinstance(facts, dict):
        raise UsageError(f"--system-facts {path}: expected keys and values, like "
                         "status = \"available\"")
    return {str(k): str(v) for k, v in facts.items()}


def describe(record: ResultRecord, submitter: str, facts: dict[str, str]) -> dict:
    """The system JSON of the system that made `record` (a single-node edge CPU system,
    no accelerator), the user's facts over what edgebench knows."""
    system = record.system
    missing = [f"{key} ({hint})" for key, hint in FROM_THE_SUBMITTER.items()
               if not facts.get(key)]
    if missing:
        raise UsageError(f"the system description needs what no machine can tell: "
                         f"{'; '.join(missing)}: write them in a file passed as "
                         f"--system-facts FILE (TOML, e.g. {FACTS_EXAMPLE!r})")
    software = f"edgebench {record.edgebench_version}, LoadGen {record.loadgen_version}, " \
        f"Python {system.python}"
    described = {
        "division": DIVISION,
        "submitter": submitter,
        "system_name": f"{record.device} ({system.cpu}, {record.backend})",
        "system_type": "edge",
        "system_type_detail": "edge device",
        "number_of_nodes": "1",
        "host_processor_model_name": system.cpu or "unknown",
        "host_processors_per_node": "1",
        "host_processor_core_count": str(system.cores_physical),
        "host_processor_frequency": "",
        "host_processor_caches": "",
        "host_processor_interconnect": "",
        "host_memory_capacity": f"{system.memory_gb} GB",
        "host_storage_capacity": facts.get("host_storage_capacity", "unknown"),
        "host_networking": "none: a single-node system measured locally",
        "host_networking_topology": "N/A",
        "host_network_card_count": "0",
        "accelerators_per_node": "0",
        "accelerator_model_name": "N/A",
        "accelerator_memory_capacity": "N/A",
        "accelerator_memory_configuration": "N/A",
        "accelerator_host_interconnect": "N/A",
        "accelerator_interconnect": "N/A",
        "accelerator_interconnect_topology": "",
        "accelerator_frequency": "",
        "accelerator_on-chip_memories": "",
        "framework": f"{record.backend} {record.backend_version}",
        "operating_system": system.os or "unknown",
        "other_software_stack": software,
        "hw_notes": f"{system.arch}, ISA flags: {', '.join(system.isa_flags or [])}"
        + (f"; board: {system.board}" if system.board else ""),
        "sw_notes": f"made by `edgebench submission` from edgebench's runs; threads "
                    f"{record.threads}",
    }
    return {**described, **facts, "division": DIVISION, "submitter": submitter}
