"""`edgebench report`: results folders in; report.html, figures, results.csv and
summary.md out."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from harness.results import write_text_atomic
from reports import figures
from reports.collect import collect, latest_per_cell, newest_per_configuration
from reports.tables import (
    QUALIFY_RULE,
    best_configurations,
    device_matrix,
    shown,
    to_markdown,
)
from scenarios.settings import SCENARIO_NAMES


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


def write_report(folders: list[Path], out: Path) -> Report:
    collected = collect(folders)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out / "report.html", out / "results.csv", out / "summary.md",
                    warnings=list(collected.warnings))
    runs = collected.runs
    write_text_atomic(report.csv, runs.to_csv(index=False))
    newest = newest_per_configuration(runs)
    drawn = latest_per_cell(newest)

    sections_md, sections_html = [], []
    for device in sorted(newest["device"].unique()):
        mine = newest[newest["device"] == device]
        mine_drawn = drawn[drawn["device"] == device]
        names = []
        for scenario in SCENARIO_NAMES:
            if (mine["scenario"] == scenario).any():
                name = f"{_slug(device)}_{scenario}.png"
                _save(*figures.scenario_bars(mine_drawn, device, scenario), out, name, report)
                names.append(name)
        for name, figure in ((f"{_slug(device)}_speedup.png",
                              figures.speedup_bars(mine, device)),
                             (f"{_slug(device)}_accuracy_vs_latency.png",
                              figures.accuracy_vs_latency(mine_drawn, device))):
            _save(*figure, out, name, report)
            names.append(name)
        matrix = device_matrix(mine)
        best = best_configurations(matrix)
        system = _system_line(collected.systems[device])
        repeated = int((mine["runs_found"] > 1).sum())
        note = (f"{repeated} configuration(s) run more than once: the newest run of each "
                "is shown ('runs found' counts them all)." if repeated else "")
        rule = f"Best: {QUALIFY_RULE}." if best else ""
        sections_md.append(f"## {device}\n\n{system}\n\n{to_markdown(matrix)}\n\n"
                           + "".join(f"- best: {line}\n" for line in best)
                           + (f"\n{rule}\n" if rule else "")
                           + (f"\n{note}\n" if note else ""))
        sections_html.append(
            f"<h2>{html.escape(device)}</h2><p>{html.escape(system)}</p>"
            + shown(matrix).to_html(index=False, na_rep="n/a", float_format=lambda v: f"{v:.4g}")
            + "<ul>" + "".join(f"<li>best: {html.escape(line)}</li>" for line in best) + "</ul>"
            + (f"<p>{html.escape(rule)}</p>" if rule else "")
            + (f"<p>{html.escape(note)}</p>" if note else "")
            + "".join(f'<img src="{name}" alt="{name}">' for name in names))

    shared = []
    for model in sorted(newest["model"].unique()):
        for scenario in SCENARIO_NAMES:
            name = f"cdf_{_slug(model)}_{scenario}.png"
            fig, series = figures.latency_cdf(drawn, model, scenario)
            if series:
                _save(fig, series, out, name, report)
                shared.append(name)
            else:
                plt.close(fig)
    for scenario in SCENARIO_NAMES:
        if (newest["scenario"] == scenario).any():
            name = f"devices_{scenario}.png"
            _save(*figures.device_comparison(drawn, scenario), out, name, report)
            shared.append(name)

    warnings_md = "".join(f"- WARNING: {w}\n" for w in report.warnings)
    write_text_atomic(report.markdown, "# edgebench report\n\n" + warnings_md + "\n"
                      + "\n".join(sections_md))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgebench report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:0.85em}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%;"
        "display:block;margin:1em 0}</style></head><body><h1>edgebench report</h1>"
        f"<p>{len(runs)} runs read, {len(newest)} configurations in the tables (the newest "
        "run of each; a configuration is everything that changes the number: device, "
        "model, backend, precision, scenario, mode, threads, batch, run length, weights, "
        "dataset, runtime and edgebench versions). The figures draw the newest "
        "configuration of each model, backend, precision and scenario.</p>"
        + "".join(f"<p><b>WARNING:</b> {html.escape(w)}</p>" for w in report.warnings)
        + "".join(sections_html)
        + "<h2>Latency distributions and devices</h2>"
        + "".join(f'<img src="{name}" alt="{name}">' for name in shared)
        + "</body></html>")
    write_text_atomic(report.html, page)
    return report
