"""MLPerf scenarios, run profiles (full / quick) and sweep matrices."""

from scenarios.settings import SCENARIO_NAMES, Scenario, get_scenario

__all__ = ["SCENARIO_NAMES", "Scenario", "get_scenario"]
