"""fleet.json: what `edgebench fleet` last knew of each board, written into the fleet's
results folder beside the boards' own `<device>/` folders; the report reads it to say
which boards were unreachable or lost, in Ansible's own words, and how far each got."""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.record_parts import Part

FLEET_FILE = "fleet.json"


class BoardStatus(Part):
    host: str  # the inventory's name for it
    device: str  # its results folder under the fleet's, and its name in reports
    reached: bool
    # not started, installing, running, finished, stopped (its sweep died: power lost),
    # unreachable, lost (reached once, then not), failed (a step failed: `message`)
    state: str
    message: str = ""  # Ansible's words for the unreachable host or the failed step
    arch: str | None = None
    cells_done: int = 0
    cells_failed: int = 0
    cells_left: int | None = None  # None: not known (never reached)
    runs_home: int = 0  # run folders fetched into <device>/
    soc_temperature_c: float | None = None
    throttled_now: list[str] = []
    energy_source: str | None = None  # what the board's runs read energy from
    energy_unavailable: str | None = None  # or why none can be read there
    unsupported: list[str] = []  # cells left out on this board, with the reason
    checked_at: str  # when the board was last asked (or tried)

    @property
    def energy(self) -> str:
        """The board's energy source as shown: '?' when it has not said."""
        return self.energy_source or ("none" if self.energy_unavailable else "?")

    @property
    def left(self) -> str:
        """Cells left, as shown: '?' when the board was never reached."""
        return "?" if self.cells_left is None else str(self.cells_left)


class FleetStatus(Part):
    matrix: str
    overrides: dict = {}  # the sweep options `fleet run` gave over the matrix's
    fleet_id: str
    inventory: str
    updated_at: str
    boards: list[BoardStatus]

    @classmethod
    def read(cls, path: Path) -> FleetStatus:
        return cls.model_validate(json.loads(path.read_text()))
