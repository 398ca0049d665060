"""The report's "Boards" section: what `edgebench fleet` last knew of each board
(`fleet.json` at the top of a fleet's results folder): reached or not, in Ansible's own
words, its sweep's state and cells, temperature and throttling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.core.fleet_record import FLEET_FILE, FleetStatus

INCOMPLETE = ("unreachable", "lost", "failed", "stopped")


def find_fleets(folders: list[Path], warnings: list[str]) -> list[FleetStatus]:
    fleets = []
    for folder in folders:
        path = Path(folder) / FLEET_FILE
        if path.is_file():
            try:
                fleets.append(FleetStatus.read(path))
            except (OSError, ValueError) as exc:
                warnings.append(f"skipped {path}: unreadable ({str(exc).splitlines()[0]})")
    return fleets


def boards_table(fleet: FleetStatus) -> pd.DataFrame:
    return pd.DataFrame([{
        "board": board.host, "device": board.device, "state": board.state,
        "message (Ansible's words if unreached)": board.message,
        "done": board.cells_done, "failed": board.cells_failed,
        "left": board.left,
        "runs home": board.runs_home,
        "SoC C": "n/a" if board.soc_temperature_c is None else f"{board.soc_temperature_c:.1f}",
        "throttled": ", ".join(board.throttled_now) or "no",
        # the board's energy source; why none, in the report's warnings
        "energy": board.energy,
        "last asked": board.checked_at} for board in fleet.boards]).fillna("")


def board_warnings(fleet: FleetStatus) -> list[str]:
    """One line per board that did not finish: the report's warnings lead with them."""
    lines = []
    for board in fleet.boards:
        if board.state in INCOMPLETE or board.cells_left:
            said = f": {board.message}" if board.message else ""
            lines.append(f"board {board.host} ({board.device}) {board.state}{said}; "
                         f"{board.cells_done} cells done, {board.left} left "
                         "(run 'edgebench fleet run' again to resume)")
        lines += [f"board {board.host}: not run: {cell}" for cell in board.unsupported]
        if board.energy_unavailable:
            lines.append(f"board {board.host}: energy not measured: {board.energy_unavailable}")
    return lines
