"""Devices side by side: per model, backend, precision and scenario, each device's
speed-up over its own FP32 and the instruction set its kernels ran on, in one table, so
that an AMX machine and a VNNI-only one (or a Pi) read against each other."""

from __future__ import annotations

import pandas as pd

from reports.tables import BASELINE, device_matrix

KEYS = ["model", "backend", "precision", "scenario"]


def _cell(row: pd.Series) -> str:
    speedup = "fp32" if row["precision"] == BASELINE else (
        "n/a" if pd.isna(row["speed-up"]) else f"{row['speed-up']:.2f}x")
    isa = row["ISA"] if isinstance(row["ISA"], str) else "ISA not recorded"
    return f"{speedup} ({isa})"


def side_by_side(newest: pd.DataFrame, systems: dict[str, dict]) -> pd.DataFrame | None:
    """One row per configuration measured on two devices or more, one column per device
    (headed with its CPU); None where fewer than two devices have runs."""
    devices = sorted(newest["device"].unique())
    if len(devices) < 2:
        return None
    columns = {device: f"{device} ({systems.get(device, {}).get('cpu') or 'cpu unknown'})"
               for device in devices}
    frames = []
    for device in devices:
        matrix = device_matrix(newest[newest["device"] == device])
        if matrix.empty:
            continue
        measured = matrix[matrix["scenario"] != "(accuracy only)"]
        frames.append(measured.assign(**{"device": device, "cell": measured.apply(
            _cell, axis=1)})[[*KEYS, "device", "cell"]])
    if not frames:
        return None
    joined = pd.concat(frames).drop_duplicates([*KEYS, "device"], keep="last")
    table = joined.pivot(index=KEYS, columns="device", values="cell")
    table = table[table.notna().sum(axis=1) >= 2]  # measured on two devices at least
    return table.rename(columns=columns).fillna("not run").reset_index()
