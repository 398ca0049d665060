"""Energy sources on fake machines (a sysfs tree, a fake vcgencmd or perf, a meter
command): each gives the right joules to the microjoule, or the right reason; and a real
run records its energy, or why it has none."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest

from harness.core.energy import ENERGY_SOURCES, first_meter, probe_of, source_states
from harness.core.energy.command import check_command, parse_meter
from harness.core.energy.meter import (
    COUNTER,
    INTEGRAL,
    CounterDomain,
    EnergyUnavailable,
    Reading,
)
from harness.core.energy.perf import open_perf, parse_perf_stat
from harness.core.energy.pi_pmic import open_pi_pmic, parse_pmic
from harness.core.energy.rapl import ROOT_ONLY, open_rapl
from harness.core.energy.window import TIMED_WINDOW, EnergyWindow
from harness.core.errors import UsageError
from harness.core.fleet_record import BoardStatus, FleetStatus
from reports.boards import board_warnings, boards_table
from scenarios.loadgen_logs import read_detail, timed_window
from tests.conftest import run_cli

MAX_RANGE_UJ = 262143328850  # a real package zone's max_energy_range_uj


def write(path: Path, text: str) -> None:
    """Atomically, as the kernel's files change: a sampling thread never reads half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".new")
    scratch.write_text(text)
    os.replace(scratch, path)


def rapl_tree(root: Path, package_uj: int, core_uj: int, dram_uj: int) -> Path:
    powercap = root / "sys/class/powercap"
    for zone, name, value in (("intel-rapl:0", "package-0", package_uj),
                              ("intel-rapl:0:0", "core", core_uj),
                              ("intel-rapl:0:1", "dram", dram_uj)):
        write(powercap / zone / "name", name + "\n")
        write(powercap / zone / "energy_uj", f"{value}\n")
        write(powercap / zone / "max_energy_range_uj", f"{MAX_RANGE_UJ}\n")
    return powercap


def executable(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


# -- the arithmetic ---------------------------------------------------------------------

def test_a_counter_that_wraps_adds_its_range_once_per_wrap():
    counter = CounterDomain(1e-6, "uJ", MAX_RANGE_UJ)
    for value in (MAX_RANGE_UJ - 1_000_000, 500_000, 4_000_000, 1_000):  # two wraps
        counter.add(value)
    # 1 J to the first wrap, 0.5 J after it, 3.5 J, then to the range and 1000 uJ past it
    expected_uj = 1_000_000 + 500_000 + 3_500_000 + (MAX_RANGE_UJ - 4_000_000) + 1_000
    assert counter.wraps == 2
    assert counter.joules == pytest.approx(expected_uj * 1e-6, abs=1e-6)


def test_a_counter_with_no_wrap_point_that_goes_back_is_an_error():
    counter = CounterDomain(1.0, "J", None)
    counter.add(10.0)
    with pytest.raises(EnergyUnavailable, match="went back"):
        counter.add(9.0)


def test_power_is_integrated_by_the_trapezoid_rule():
    power = Reading(window_s=3.5, domains={}, summed=["rail"], samples=4, method=INTEGRAL,
                    times=[0.0, 1.0, 3.0, 3.5], series={"rail": [2.0, 4.0, 4.0, 0.0]})
    whole = power.within(0.0, 3.5)
    assert whole.joules == pytest.approx(3.0 + 8.0 + 1.0, abs=1e-9)
    assert whole.domains["rail"]["mean_power_w"] == pytest.approx(12.0 / 3.5, abs=1e-6)


def test_readings_are_cut_at_loadgen_timed_window():
    counter = Reading(window_s=3.0, domains={"pkg": {"joules": 60.0}}, summed=["pkg"],
                      samples=4, method=COUNTER, times=[0.0, 1.0, 2.0, 3.0],
                      series={"pkg": [0.0, 10.0, 30.0, 60.0]})
    cut = counter.within(0.5, 2.5)  # cumulative joules interpolated at both ends: 45 - 5
    assert cut.joules == pytest.approx(40.0, abs=1e-9) and cut.window_s == 2.0
    power = Reading(window_s=3.5, domains={"rail": {"joules": 12.0}}, summed=["rail"],
                    samples=4, method=INTEGRAL, times=[0.0, 1.0, 3.0, 3.5],
                    series={"rail": [2.0, 4.0, 4.0, 0.0]})
    cut = power.within(0.5, 3.25)  # (3 + 4) / 2 * 0.5 + 4 * 2 + (4 + 2) / 2 * 0.25
    assert cut.joules == pytest.approx(10.5, abs=1e-9)
    assert cut.domains["rail"]["mean_power_w"] == pytest.approx(10.5 / 2.75, abs=1e-6)
    assert power.within(-1.0, 2.0) is None  # not inside the readings: not cut


def test_loadgen_timed_window_is_read_in_its_own_stamps():
    # as LoadGen 6 logs them (std::localtime, to the millisecond)
    detail = {"power_begin": "12-07-2026 21:19:43.395", "power_end": "12-07-2026 21:19:45.836"}
    begin, end = timed_window(detail)
    assert begin == datetime(2026, 12, 7, 21, 19, 43, 395000).timestamp()
    assert end - begin == pytest.approx(2.441, abs=1e-6)
    assert timed_window({"power_begin": "12-07-2026 21:19:43.395"}) is None


# -- RAPL through powercap ---------------------------------------------------------------

def test_rapl_sums_package_and_dram_across_a_wrap_to_the_microjoule(tmp_path):
    powercap = rapl_tree(tmp_path, MAX_RANGE_UJ - 2_500_000, 7_000_000, 1_000_000)
    meter = open_rapl(probe_of(root=tmp_path))
    meter.start()
    write(powercap / "intel-rapl:0/energy_uj", "1234567\n")  # wrapped
    write(powercap / "intel-rapl:0:0/energy_uj", "9000000\n")
    write(powercap / "intel-rapl:0:1/energy_uj", "1750001\n")
    reading = meter.stop()
    domains = reading.domains
    assert domains["package-0"]["joules"] == pytest.approx(3.734567, abs=1e-6)
    assert domains["package-0"]["wraps"] == 1
    assert domains["package-0"]["counter_start"] == MAX_RANGE_UJ - 2_500_000
    assert domains["package-0"]["counter_end"] == 1234567
    assert domains["package-0/core"]["joules"] == pytest.approx(2.0, abs=1e-6)
    assert domains["package-0/dram"]["joules"] == pytest.approx(0.750001, abs=1e-6)
    # the core is inside the package: recorded, not added
    assert reading.summed == ["package-0", "package-0/dram"]
    assert reading.joules == pytest.approx(3.734567 + 0.750001, abs=1e-6)
    assert "package and DRAM" in meter.covers


def test_rapl_is_sampled_often_enough_that_no_wrap_is_missed(tmp_path):
    """A zone whose counter a 1000 W package would run through in 1.2 s is sampled at
    least twice in that time."""
    powercap = rapl_tree(tmp_path, 0, 0, 0)
    write(powercap / "intel-rapl:0/max_energy_range_uj", "1200000000\n")
    assert open_rapl(probe_of(root=tmp_path)).interval_s <= 0.6


def test_a_root_only_rapl_counter_says_so_with_the_udev_rule():
    # a tree that another user can walk to, with energy_uj readable by its owner only
    folder = Path(tempfile.mkdtemp(prefix="edgebench-rapl-"))
    folder.chmod(0o755)
    powercap = rapl_tree(folder, 5, 5, 5)
    for zone in powercap.iterdir():
        (zone / "energy_uj").chmod(stat.S_IRUSR)
    root_user = os.geteuid() == 0
    if root_user:  # root reads any file: ask as nobody, as a user without the rule would
        os.seteuid(65534)
    try:
        with pytest.raises(EnergyUnavailable) as raised:
            open_rapl(probe_of(root=folder))
    finally:
        if root_user:
            os.seteuid(0)
        shutil.rmtree(folder)
    assert raised.value.reason == ROOT_ONLY
    assert "root only" in ROOT_ONLY and 'RUN+="/bin/chmod 0444 /sys%p/energy_uj"' in ROOT_ONLY


def test_a_source_that_breaks_costs_its_figure_and_names_the_error(tmp_path):
    powercap = rapl_tree(tmp_path, 5, 5, 5)
    write(powercap / "intel-rapl:0/max_energy_range_uj", "garbage\n")
    source, meter, tried = first_meter(probe_of(root=tmp_path))
    assert source is None and meter is None
    assert tried["powercap-rapl"].startswith("ValueError: could not convert string")


# -- perf's RAPL events ------------------------------------------------------------------

FAKE_PERF = """#!/bin/sh
# perf stat -a: counts until interrupted, then prints its CSV on stderr
trap 'echo "12.345678,Joules,power/energy-pkg/,1001234567,100.00,," >&2;
      echo "1.500000,Joules,power/energy-ram/,1001234567,100.00,," >&2; exit 0' INT
while true; do sleep 0.05; done
"""


def test_perf_counts_package_and_dram_until_interrupted(tmp_path):
    events = tmp_path / "sys/bus/event_source/devices/power/events"
    write(events / "energy-pkg", "event=0x02\n")
    write(events / "energy-ram", "event=0x03\n")
    perf = executable(tmp_path / "perf", FAKE_PERF)
    meter = open_perf(probe_of(root=tmp_path, tools={"perf": perf}))
    meter.start()
    time.sleep(0.3)  # the shell's trap must be set before the interrupt
    reading = meter.stop()
    assert reading.domains == {"package": {"joules": 12.345678}, "dram": {"joules": 1.5}}
    assert reading.joules == pytest.approx(13.845678, abs=1e-6)


def test_perf_that_cannot_count_says_its_words():
    with pytest.raises(EnergyUnavailable, match="not supported"):
        parse_perf_stat("<not supported>,Joules,power/energy-pkg/,0,100.00,,")


# -- the Raspberry Pi 5's PMIC -----------------------------------------------------------

# as `vcgencmd pmic_read_adc` prints it (rails shortened); EXT5V and BATT have no current
PMIC = """ 3V7_WL_SW_A current(0)=0.10000000A
   3V3_SYS_A current(1)=0.05000000A
  VDD_CORE_A current(7)=2.00000000A
 3V7_WL_SW_V volt(8)=3.70000000V
   3V3_SYS_V volt(9)=3.30000000V
  VDD_CORE_V volt(15)=0.80000000V
     EXT5V_V volt(24)=5.12000000V
      BATT_V volt(25)=0.00000000V
"""
PMIC_W = 0.1 * 3.7 + 0.05 * 3.3 + 2.0 * 0.8


def test_pmic_rails_pair_volts_and_amps_by_name():
    rails = parse_pmic(PMIC)
    assert set(rails) == {"3V7_WL_SW", "3V3_SYS", "VDD_CORE"}  # EXT5V: no current
    assert sum(rails.values()) == pytest.approx(PMIC_W, abs=1e-12)


def test_pi5_rails_are_sampled_and_integrated_to_the_microjoule(tmp_path):
    vcgencmd = executable(tmp_path / "vcgencmd", f"#!/bin/sh\ncat <<'EOF'\n{PMIC}EOF\n")
    meter = open_pi_pmic(probe_of(root=tmp_path, tools={"vcgencmd": vcgencmd}))
    meter.start()
    time.sleep(0.7)
    reading = meter.stop()
    assert reading.samples >= 3  # sampled between the ends, 5 a second
    assert reading.joules == pytest.approx(PMIC_W * reading.window_s, abs=1e-6)
    assert reading.domains["VDD_CORE"]["mean_power_w"] == pytest.approx(1.6, abs=1e-6)
    assert "not the 5 V input" in meter.covers


def test_a_pi_without_the_pmic_adc_says_so(tmp_path):
    vcgencmd = executable(tmp_path / "vcgencmd", "#!/bin/sh\n"
                          "echo 'error=1 error_msg=\"Command not registered\"'\nexit 255\n")
    with pytest.raises(EnergyUnavailable, match="Command not registered"):
        open_pi_pmic(probe_of(root=tmp_path, tools={"vcgencmd": vcgencmd}))


# -- hwmon -------------------------------------------------------------------------------

def test_hwmon_power_sensor_is_integrated(tmp_path):
    sensor = tmp_path / "sys/class/hwmon/hwmon3"
    write(sensor / "name", "ucsi_source_psy\n")
    write(sensor / "power1_input", "2500000\n")  # microwatts
    source, meter, tried = first_meter(probe_of(root=tmp_path))
    assert source == "hwmon" and tried["powercap-rapl"].startswith("no /sys/class/powercap")
    meter.start()
    time.sleep(0.5)
    reading = meter.stop()
    assert reading.joules == pytest.approx(2.5 * reading.window_s, abs=1e-6)


def test_hwmon_energy_counters_sum_sockets_not_their_cores(tmp_path):
    device = tmp_path / "sys/class/hwmon/hwmon0"
    write(device / "name", "amd_energy\n")
    for index, (label, value) in enumerate((("Ecore000", 1_000_000), ("Ecore001", 2_000_000),
                                            ("Esocket0", 5_000_000)), start=1):
        write(device / f"energy{index}_label", label + "\n")
        write(device / f"energy{index}_input", f"{value}\n")
    _, meter, _ = first_meter(probe_of(root=tmp_path))
    meter.start()
    write(device / "energy1_input", "1400000\n")
    write(device / "energy3_input", "6250003\n")
    reading = meter.stop()
    assert reading.summed == ["amd_energy/Esocket0"]
    assert reading.joules == pytest.approx(1.250003, abs=1e-6)
    assert reading.domains["amd_energy/Ecore000"]["joules"] == pytest.approx(0.4, abs=1e-6)


# -- the user's meter --------------------------------------------------------------------

def test_meter_output_is_read_with_its_unit():
    assert parse_meter("total: 1.5 kWh\n") == ("energy", 5.4e6)
    assert parse_meter("power 3200 mW") == ("power", 3.2)
    with pytest.raises(ValueError, match="no number with a unit"):
        parse_meter("42")


def test_a_meter_printing_watts_is_integrated(tmp_path):
    meter_cmd = executable(tmp_path / "meter", "#!/bin/sh\necho 'P = 2.5 W'\n")
    window = EnergyWindow.open(meter_cmd, idle_s=0.5)
    time.sleep(0.6)
    energy = window.close(inferences=10)
    assert energy.source == "energy-command"
    assert energy.joules == pytest.approx(2.5 * energy.window_s, abs=1e-6)
    assert energy.idle_power_w == pytest.approx(2.5, abs=1e-6)
    assert energy.joules_per_inference == pytest.approx(energy.joules / 10, abs=1e-9)
    assert energy.joules_per_inference_above_idle == pytest.approx(0.0, abs=1e-6)


def test_a_meter_that_fails_mid_run_leaves_a_reason_not_a_figure(tmp_path):
    flag = tmp_path / "broken"
    meter_cmd = executable(tmp_path / "meter",
                           f"#!/bin/sh\n[ -e {flag} ] && {{ echo 'usb gone' >&2; exit 3; }}\n"
                           "echo '1.0 W'\n")
    window = EnergyWindow.open(meter_cmd, idle_s=0.2)
    flag.touch()
    energy = window.close(inferences=5)
    assert energy.joules is None and energy.joules_per_inference is None
    assert "energy-command source failed" in energy.unsupported
    assert "usb gone" in energy.unsupported


def test_a_bad_meter_command_is_one_line_naming_the_fix():
    with pytest.raises(UsageError) as raised:
        check_command("echo 17")
    assert "no number with a unit" in str(raised.value)
    assert "'3.2 W'" in str(raised.value) and "\n" not in str(raised.value)


# -- where nothing can be read -----------------------------------------------------------

def test_a_machine_without_sources_gives_every_reason_and_no_figure(tmp_path):
    energy = EnergyWindow.open(None, root=tmp_path).close(inferences=100)
    assert energy.source is None and energy.joules is None
    assert list(energy.sources) == list(ENERGY_SOURCES)
    for name in ENERGY_SOURCES:
        assert f"{name}: " in energy.unsupported
    assert set(source_states(probe_of(root=tmp_path)).values()) == set(energy.sources.values())


# -- the fleet's boards ------------------------------------------------------------------

def test_boards_show_their_energy_source_and_why_not():
    boards = [BoardStatus(host=host, device=host, reached=True, state="finished",
                          checked_at="2026-12-07T10:00:00", **energy)
              for host, energy in (("pi5", {"energy_source": "pi5-pmic"}),
                                   ("vm", {"energy_unavailable": "no energy source: hwmon: no"}),
                                   ("old", {}))]
    fleet = FleetStatus(matrix="demo", fleet_id="f", inventory="boards.ini",
                        updated_at="2026-12-07T10:00:00", boards=boards)
    assert list(boards_table(fleet)["energy"]) == ["pi5-pmic", "none", "?"]
    assert board_warnings(fleet) == ["board vm: energy not measured: no energy source: hwmon: no"]


# -- real runs ---------------------------------------------------------------------------

CONSTANT_5W = """#!/bin/sh
# a meter on a load drawing a constant 5 W since the epoch: its cumulative joules now
awk -v now="$(date +%s.%N)" 'BEGIN { printf "%.6f J\\n", 5 * now }'
"""


def test_a_run_with_a_meter_of_constant_power_gives_that_power_times_its_window(tmp_path):
    meter_cmd = executable(tmp_path / "meter", CONSTANT_5W)
    results = tmp_path / "results"
    proc = run_cli("run", "--model", "mobilenet_v2", "--backend", "onnxruntime", "--quick",
                   "--energy-command", meter_cmd, "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    run_dir = next(results.glob("*/result.json")).parent
    record = json.loads((run_dir / "result.json").read_text())
    energy = record["energy"]
    assert energy["source"] == "energy-command"
    assert energy["joules"] == pytest.approx(5.0 * energy["window_s"], rel=0.01)
    assert energy["idle_power_w"] == pytest.approx(5.0, rel=0.01)
    # the window is LoadGen's timed one, cut from the meter's readings around it
    assert energy["window"] == TIMED_WINDOW
    begin, end = timed_window(read_detail(run_dir))
    assert energy["window_s"] == pytest.approx(end - begin, abs=1e-6)
    assert energy["window_s"] < record["machine_load"]["window_s"]
    assert energy["inferences"] >= record["metrics"]["query_count"]
    assert energy["joules_per_inference"] == pytest.approx(
        energy["joules"] / energy["inferences"], rel=1e-6)


def test_a_bad_energy_command_exits_2_before_anything_runs(tmp_path):
    results = tmp_path / "results"
    proc = run_cli("run", "--model", "mobilenet_v2", "--quick", "--energy-command",
                   f"{sys.executable} -c 'print(3)'", "--results", str(results))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--energy-command" in proc.stderr
    assert not results.exists()


def test_every_demo_result_says_how_its_energy_was_had_or_why_not(demo_sweep):
    results, _ = demo_sweep
    records = [json.loads(p.read_text()) for p in results.rglob("result.json")]
    measured = [r for r in records if not r.get("unsupported")]
    assert measured
    for record in measured:
        energy = record["energy"]
        if energy.get("source"):  # a machine with RAPL or a sensor
            assert energy["joules"] > 0 and energy["covers"]
        else:
            assert energy["unsupported"].startswith("no energy source can be read here")
            assert "joules" not in energy
