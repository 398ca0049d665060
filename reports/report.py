"""`edgebench report`: results folders in; report.html, figures, results.csv and
summary.md out."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from harness.core.records import FAILED_FILE, write_text_atomic
from reports import figures, profiles
from reports.boards import board_warnings, boards_table, find_fleets
from reports.collect import collect, latest_per_cell, newest_per_configuration
from reports.devices import side_by_side
from reports.study import study_sections
from reports.tables import (
    QUALIFY_RULE,
    best_configurations,
    detail_table,
    device_matrix,
    energy_line,
    main_table,
    to_html,
    to_markdown,
)
from scenarios.scenario import SCENARIOS


@dataclass
class Report:
    html: Path
    csv: Path
    markdown: Path
    figures: dict[str, int] = field(default_factory=dict)  # PNG name -> series drawn
    warnings: list[str] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _save(fig, series: int, out: Path, name: str, report: Report) -> None:
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    report.figures[name] = series


def _system_line(system: dict) -> str:
    runtimes = ", ".join(f"{k} {v}" for k, v in sorted(system["runtimes"].items()))
    return (f"{system.get('cpu')} ({system.get('arch')}), {system.get('cores_physical')} "
            f"physical / {system.get('cores_logical')} logical cores, "
            f"{system.get('memory_gb')} GiB, {system.get('os')}; ISA flags: "
            f"{' '.join(system.get('isa_flags') or []) or 'none reported'}; runtimes: {runtimes}")


class _Page:
    """One document written twice, as Markdown and as HTML, from the same calls, so the
    page a user opens reads exactly as summary.md does."""

    def __init__(self):
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, level: int, text: str, anchor: str | None = None) -> None:
        self.md.append(f"{'#' * level} {text}\n")
        self.html.append(f"<h{level}{f' id={anchor!r}' if anchor else ''}>"
                         f"{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        if text:
            self.md.append(f"{text}\n")
            self.html.append(f"<p>{html.escape(text)}</p>")

    def items(self, lines: list[str], prefix: str = "") -> None:
        if lines:
            self.md.append("".join(f"- {prefix}{line}\n" for line in lines))
            self.html.append("<ul>" + "".join(f"<li>{html.escape(prefix + line)}</li>"
                                              for line in lines) + "</ul>")

    def table(self, table) -> None:
        if table.empty:
            self.paragraph("(nothing measured for this table)")
            return
        self.md.append(to_markdown(table) + "\n")
        self.html.append(to_html(table))

    def links(self, targets: list[tuple[str, str]]) -> None:
        self.md.append("Contents: " + " · ".join(title for title, _ in targets) + "\n")
        self.html.append("<nav>Contents: " + " · ".join(
            f'<a href="#{anchor}">{html.escape(title)}</a>' for title, anchor in targets)
            + "</nav>")

    def figure(self, name: str) -> None:
        self.md.append(f"![{name}]({name})\n")
        self.html.append(f'<img src="{name}" alt="{name}">')


def _figures(page: _Page, drawn: list[tuple[str, tuple]], out: Path, report: Report) -> None:
    """Save and show the figures that have something to show; one line for the rest."""
    for name, (fig, series, why_empty) in drawn:
        if series:
            _save(fig, series, out, name, report)
            page.figure(name)
        else:
            plt.close(fig)
            page.paragraph(f"({name.removesuffix('.png')}: not drawn, {why_empty})")


def _profile_sections(page: _Page, found: list[dict], out: Path, report: Report) -> None:
    """Per device and model: where the time goes per layer class, what each precision
    saves per class against FP32, the slowest layers."""
    if not found:
        return
    newest = profiles.newest(found)
    shown = [r for r in newest if r["profile"] is not None]
    page.heading(2, "Per-layer profiles", "profiles")
    page.paragraph(
        "From --profile runs: each runtime's own profiler after LoadGen's run, operator "
        "times of one inference (the mean of many) placed in the source model's layers and "
        "layer classes. Profiled runs never give a headline above. 'sum / latency': the "
        "operators' times over the wall time of the same profiled inferences; 'sum / "
        "LoadGen latency': over the run's LoadGen latency of a batch, profiler off (above "
        "the first by what the profiler adds inside the operators it times); 'mapped "
        "share': the time placed in a layer class (the rest shows as unmapped).")
    page.items([f"{r['model']} on {r['device']}, {profiles.label(r)}: no profile, "
                f"{r['unsupported_reason'] or 'the run recorded none'}"
                for r in newest if r["profile"] is None], prefix="not profiled: ")
    for device, model in sorted({(r["device"], r["model"]) for r in shown}):
        mine = [r for r in shown if r["device"] == device and r["model"] == model]
        page.heading(3, f"{model} on {device}", _slug(f"profile-{device}-{model}"))
        page.heading(4, "Time per layer class (ms per inference)")
        page.table(profiles.breakdown(mine))
        _figures(page, [(f"{_slug(device)}_{_slug(model)}_profile.png",
                         (*figures.profile_bars(mine, device, model), "no profile"))],
                 out, report)
        page.heading(4, "Speed-up over fp32 per layer class (fp32 ms -> ms)")
        page.table(profiles.class_speedups(mine))
        for row in mine:
            page.heading(4, f"Top {profiles.TOP_LAYERS} layers: {profiles.label(row)} "
                         f"({row['scenario']})")
            page.table(profiles.top_layers(row["profile"]))


def write_report(folders: list[Path], out: Path) -> Report:
    collected = collect(folders)
    out.mkdir(parents=True, exist_ok=True)
    fleets = find_fleets(folders, collected.warnings)
    report = Report(out / "report.html", out / "results.csv", out / "summary.md",
                    warnings=[line for fleet in fleets for line in board_warnings(fleet)]
                    + list(collected.warnings))
    runs = collected.runs
    write_text_atomic(report.csv, runs.to_csv(index=False))
    newest = newest_per_configuration(runs)
    drawn = latest_per_cell(newest) if not newest.empty else newest

    page = _Page()
    page.heading(1, "edgebench report")
    page.paragraph(
        f"{len(runs)} runs read, {len(newest)} configurations in the tables (the newest run "
        "of each, or the median of a sweep's repeats; a configuration is everything that "
        "changes the number: device, model, backend, precision, scenario, mode, threads, "
        "batch, run length, weights, dataset, calibration set, recipe options, runtime and "
        "edgebench versions). The figures "
        "draw the newest configuration of each model, backend, precision and scenario.")
    page.items(report.warnings, prefix="WARNING: ")
    for fleet in fleets:
        page.heading(2, "Boards", "boards")
        page.paragraph(f"edgebench fleet ran {fleet.matrix} on the boards of {fleet.inventory}; "
                       f"as last asked, {fleet.updated_at}:")
        page.table(boards_table(fleet))
    if collected.failures:
        page.heading(2, "Failed cells", "failed")
        page.items([f"{f['cell']} (repeat {f['repeat']}): {f['reason']} after "
                    f"{f['elapsed_s']} s; details: {f['folder']}/{FAILED_FILE}"
                    + (f"; a later run has a result: {f['later_result']}"
                       if f["later_result"] else "; no result")
                    for f in collected.failures])
    for device in sorted(newest["device"].unique()) if not newest.empty else []:
        slug = _slug(device)
        mine = newest[newest["device"] == device]
        mine_drawn = drawn[drawn["device"] == device]
        matrix = device_matrix(mine)
        page.heading(2, device, slug)
        page.links([("results", f"{slug}-results"), ("study", f"{slug}-study"),
                    ("figures", f"{slug}-figures")])
        page.paragraph(_system_line(collected.systems[device]))
        page.heading(3, "Results", f"{slug}-results")
        page.table(main_table(matrix))
        page.paragraph(energy_line(mine))
        best = best_configurations(matrix)
        page.items(best, prefix="best: ")
        page.paragraph(f"Best: {QUALIFY_RULE}." if best else "")
        repeated = int((mine["runs_found"] > 1).sum())
        page.paragraph(f"{repeated} configuration(s) run more than once: the newest run of "
                       "each is shown ('runs found' counts them all)." if repeated else "")
        page.heading(4, "Details: how each was measured, accuracy tests, memory and size")
        page.table(detail_table(matrix))
        page.heading(3, "Study", f"{slug}-study")
        for title, content in study_sections(matrix):
            page.heading(4, title)
            if isinstance(content, list) and not content:
                page.paragraph("(none)")
            elif isinstance(content, list):
                page.items(content)
            else:
                page.table(content)
        page.heading(3, "Figures", f"{slug}-figures")
        figures_of_device = [
            (f"{slug}_{scenario}.png", (*figures.scenario_bars(mine_drawn, device, scenario),
                                        f"no {scenario} run on this device"))
            for scenario in SCENARIOS if (mine["scenario"] == scenario).any()]
        figures_of_device += [
            (f"{slug}_speedup.png", (*figures.speedup_bars(mine, device),
                                     "no precision but fp32 measured with an fp32 baseline "
                                     "of the same configuration")),
            (f"{slug}_accuracy_vs_latency.png",
             (*figures.accuracy_vs_latency(mine_drawn, device),
              "no configuration has both a SingleStream and an accuracy run")),
            (f"{slug}_quantizers.png", (*figures.quantizers_vs_latency(matrix, device),
                                        "no quantizer has both a timed and an accuracy run"))]
        if mine_drawn["batch_probe"].notna().any():
            figures_of_device.append((f"{slug}_batch_probe.png", (
                *figures.batch_curves(mine_drawn, device), "no Offline batch probe")))
        if mine_drawn["joules_per_inference"].notna().any():
            figures_of_device.append((f"{slug}_energy.png", (
                *figures.energy_vs_latency(mine_drawn, device), "no run measured energy")))
        _figures(page, figures_of_device, out, report)

    _profile_sections(page, collected.profiles, out, report)
    if newest.empty:  # profiled runs only
        _write_pages(page, report)
        return report

    compared = side_by_side(newest, collected.systems)
    if compared is not None and not compared.empty:
        page.heading(2, "Devices side by side", "side-by-side")
        page.paragraph("Each device's speed-up over its own fp32 of the same configuration, "
                       "and the instruction set its compute kernels ran on, as the runtime "
                       "said it (its counts of kernels per ISA class).")
        page.table(compared)
    page.heading(2, "Latency distributions and devices", "shared")
    shared = [(f"cdf_{_slug(model)}_{scenario}.png",
               (*figures.latency_cdf(drawn, model, scenario), "no latencies recorded"))
              for model in sorted(newest["model"].unique()) for scenario in SCENARIOS
              if ((drawn["model"] == model) & (drawn["scenario"] == scenario)).any()]
    shared += [(f"devices_{scenario}.png", (*figures.device_comparison(drawn, scenario),
                                            "no supported run"))
               for scenario in SCENARIOS if (newest["scenario"] == scenario).any()]
    _figures(page, shared, out, report)
    _write_pages(page, report)
    return report


def _write_pages(page: _Page, report: Report) -> None:
    write_text_atomic(report.markdown, "\n".join(page.md))
    write_text_atomic(report.html, (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgebench report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:0.85em;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
        "overflow-wrap:break-word}li,p{overflow-wrap:anywhere}"
        "img{max-width:100%;display:block;margin:1em 0}nav{margin:0.5em 0}</style></head>"
        "<body>" + "".join(page.html) + "</body></html>"))
