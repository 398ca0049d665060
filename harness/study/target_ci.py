"""`sweep --target-ci PCT --budget MIN`: repeat the performance cells whose headline is not
yet known tightly enough, interleaved, until each one's 95% interval of the median is
within PCT of its median or the budget is spent.

A cell's values are the headlines of its done repeats in this results folder's manifest,
so a killed sweep resumes its repeats where they stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.core.records import RESULT_FILE, ResultRecord
from harness.core.statistics import interval_width_pct, median_interval, meets_target
from scenarios.scenario import get_scenario

MAX_REPEATS = 30  # a cell this noisy will not settle: stop repeating it


@dataclass(frozen=True)
class CellSpread:
    """One performance configuration's repeats so far, against the target."""

    label: str
    values: list[float]
    repeats_run: int  # done, failed or not
    median: float | None
    width_pct: float | None  # 95% interval of the median, in % of the median

    def met(self, target_pct: float) -> bool:
        return meets_target(len(self.values), self.width_pct, target_pct)

    def needs_more(self, target_pct: float) -> bool:
        """Not met, measurable (it has a headline) and not past MAX_REPEATS."""
        return not self.met(target_pct) and bool(self.values) \
            and self.repeats_run < MAX_REPEATS

    def describe(self, target_pct: float) -> str:
        width = "no interval" if self.width_pct is None else f"95% CI {self.width_pct:.1f}%"
        return (f"{self.label}: {'met' if self.met(target_pct) else 'NOT met'} "
                f"({width} of the median after {len(self.values)} repeats)")


def headline_of(run_dir: Path) -> float | None:
    """A done run's headline, or None (unsupported, unreadable)."""
    try:
        record = ResultRecord.read(run_dir / RESULT_FILE)[0]
    except (OSError, ValueError):
        return None
    if record.unsupported or record.mode != "performance":
        return None
    return get_scenario(record.scenario).read_headline(record.metrics)[1]


def spread(label: str, states: list[dict]) -> CellSpread:
    """The spread of one configuration's repeats, from their manifest states."""
    values = [v for v in (headline_of(Path(s["run_dir"])) for s in states
                          if s.get("state") == "done" and s.get("run_dir")) if v is not None]
    if not values:
        return CellSpread(label, values, len(states), None, None)
    median, low, high = median_interval(values)
    return CellSpread(label, values, len(states), median,
                      interval_width_pct(median, low, high))
