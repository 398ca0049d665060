"""The report's figures (matplotlib, written as PNG). Each function returns the figure
and the number of data series it drew, which the tests check.

Runs that are not full valid measurements (invalid, quick, random weights, emulated)
are hatched and listed in a footnote; unsupported cells are marked "unsupported".
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reports.collect import latest_per_cell  # noqa: E402
from reports.tables import BASELINE, baseline_of, caveats, speedup  # noqa: E402
from scenarios.scenario import SCENARIOS, get_scenario  # noqa: E402

HATCH = "///"
LOG_SCALE_SPREAD = 20  # max/min above which a bar chart switches to a log axis


def _footnote(fig, flagged: set[str], marked: str = "hatched") -> None:
    if flagged:
        fig.text(0.01, 0.01, f"{marked}: not a full valid measurement "
                 f"({', '.join(sorted(flagged))})", fontsize=8, style="italic")


def _mark_unsupported(ax, x: float) -> None:
    ax.text(x, 0, "unsupported", rotation=90, ha="center", va="bottom", fontsize=7,
            color="grey")


def _log_scale_if_spread(ax, values: list[float]) -> None:
    positive = [v for v in values if v and v > 0]
    if positive and max(positive) / min(positive) > LOG_SCALE_SPREAD:
        ax.set_yscale("log")


def _precision_colours(precisions) -> dict[str, tuple]:
    palette = plt.get_cmap("tab10")
    return {p: palette(i % 10) for i, p in enumerate(precisions)}


def _error_bar(cell: pd.Series) -> list[list[float]] | None:
    """The 95% interval of a repeated measurement's median, as matplotlib's yerr."""
    low, high = cell.get("headline_ci_low"), cell.get("headline_ci_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return None
    return [[cell["headline"] - low], [high - cell["headline"]]]


def scenario_bars(runs: pd.DataFrame, device: str, scenario: str):
    """Figures 1-3: one panel per model, bars grouped by backend, one bar per precision."""
    data = runs[(runs["scenario"] == scenario) & (runs["mode"] == "performance")]
    headline = get_scenario(scenario).headline
    label, unit = headline.label, headline.unit
    models = sorted(data["model"].unique())
    precisions = sorted(data["precision"].unique(), key=lambda p: (p != BASELINE, p))
    colours = _precision_colours(precisions)
    fig, axes = plt.subplots(1, max(1, len(models)), squeeze=False,
                             figsize=(max(7.5, 5 * len(models) + 2), 4.8))
    flagged, series = set(), set()
    for ax, model in zip(axes[0], models, strict=False):
        rows = data[data["model"] == model]
        backends = sorted(rows["backend"].unique())
        width = 0.8 / max(1, len(precisions))
        values = []
        for j, precision in enumerate(precisions):
            for i, backend in enumerate(backends):
                cell = rows[(rows["backend"] == backend) & (rows["precision"] == precision)]
                x = i + (j - (len(precisions) - 1) / 2) * width
                if cell.empty:
                    continue
                cell = cell.iloc[0]
                if cell["unsupported"]:
                    _mark_unsupported(ax, x)
                    continue
                notes = caveats(cell)
                flagged.update(notes)
                ax.bar(x, cell["headline"], width, color=colours[precision],
                       hatch=HATCH if notes else None, edgecolor="black", linewidth=0.5,
                       label=precision if precision not in series else None,
                       yerr=_error_bar(cell), capsize=3)
                series.add(precision)
                values.append(cell["headline"])
        _log_scale_if_spread(ax, values)
        ax.set_xticks(range(len(backends)), backends)
        ax.set_title(model)
        ax.set_ylabel(f"{label} ({unit})")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[p]) for p in precisions]
    fig.legend(handles, precisions, title="precision", loc="center right")
    better = ("higher is better" if get_scenario(scenario).headline.higher_is_better
              else "lower is better")
    fig.suptitle(f"{scenario}: {label} ({better}; error bars: 95% CI over repeats)"
                 f"\ndevice: {device}", fontsize=11)
    _footnote(fig, flagged)
    fig.tight_layout(rect=(0, 0.04, 0.84, 1))
    return fig, len(series)


def speedup_bars(runs: pd.DataFrame, device: str):
    """Figure 4: each precision's speed-up over FP32 of the same backend and model."""
    data = runs[runs["mode"] == "performance"]
    scenarios = [s for s in SCENARIOS if s in set(data["scenario"])]
    fig, axes = plt.subplots(1, max(1, len(scenarios)), squeeze=False,
                             figsize=(max(7.5, 5 * len(scenarios) + 2), 4.8))
    others = sorted(p for p in data["precision"].unique() if p != BASELINE)
    colours = _precision_colours(others)
    series, flagged = set(), set()
    for ax, scenario in zip(axes[0], scenarios, strict=False):
        rows = data[data["scenario"] == scenario]
        groups = sorted({(r.model, r.backend) for r in rows.itertuples()})
        width = 0.8 / max(1, len(others))
        for j, precision in enumerate(others):
            for i, (model, backend) in enumerate(groups):
                # the newest configuration of this cell, against FP32 of that same
                # configuration (threads, batch, run length, versions...)
                cell = latest_per_cell(rows[(rows["model"] == model)
                                            & (rows["backend"] == backend)
                                            & (rows["precision"] == precision)])
                x = i + (j - (len(others) - 1) / 2) * width
                if cell.empty:
                    continue
                cell = cell.iloc[0]
                base = baseline_of(rows, cell)
                if cell["unsupported"]:
                    _mark_unsupported(ax, x)
                    continue
                if base is None:
                    continue
                value = speedup(cell["headline"], base["headline"], scenario)
                notes = caveats(cell) + caveats(base)
                flagged.update(notes)
                ax.bar(x, value, width, color=colours[precision], hatch=HATCH if notes else None,
                       edgecolor="black", linewidth=0.5)
                series.add(precision)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xticks(range(len(groups)), [f"{m}\n{b}" for m, b in groups], fontsize=8)
        ax.set_title(scenario)
        ax.set_ylabel(f"speed-up over {BASELINE} (x)")
        if not others:
            ax.text(0.5, 0.5, f"only {BASELINE} measured", transform=ax.transAxes,
                    ha="center", color="grey")
    if others:
        fig.legend([plt.Rectangle((0, 0), 1, 1, color=colours[p]) for p in others], others,
                   title="precision", loc="center right")
    fig.suptitle(f"Speed-up over {BASELINE} of the same configuration (above 1: faster)"
                 f"\ndevice: {device}", fontsize=11)
    _footnote(fig, flagged)
    fig.tight_layout(rect=(0, 0.04, 0.88, 1))
    return fig, len(series)


def _finish_scatter(fig, axes, series: int, flagged: set[str], title: str) -> None:
    """A scatter figure's legend (colour: precision, shape: backend), title and footnote."""
    if series:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center right", fontsize=7,
                   title="colour: precision\nshape: backend", title_fontsize=7)
    fig.suptitle(title, fontsize=11)
    _footnote(fig, flagged, marked="hollow")
    fig.tight_layout(rect=(0, 0.04, 0.8, 1))


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both latency (lower) and top-1 (higher)."""
    front, best = [], -np.inf
    for latency, top1 in sorted(points, key=lambda p: (p[0], -p[1])):
        if top1 > best:
            front.append((latency, top1))
            best = top1
    return front


def accuracy_vs_latency(runs: pd.DataFrame, device: str):
    """Figure 5: top-1 against SingleStream p90, per model, with the Pareto front."""
    latency = runs[(runs["scenario"] == "single-stream") & (runs["mode"] == "performance")
                   & ~runs["unsupported"]]
    accuracy = runs[(runs["mode"] == "accuracy") & ~runs["unsupported"]]
    merged = latency.merge(accuracy, on=["model", "backend", "precision"],
                           suffixes=("", "_acc"))
    models = sorted(merged["model"].unique()) or ["(no model has both runs)"]
    precisions = sorted(merged["precision"].unique(), key=lambda p: (p != BASELINE, p))
    colours = _precision_colours(precisions)
    markers = dict(zip(sorted(runs["backend"].unique()), "osD^vP*X", strict=False))
    fig, axes = plt.subplots(1, len(models), figsize=(max(7.5, 5.5 * len(models) + 2), 4.8),
                             squeeze=False)
    series, flagged = 0, set()
    for ax, model in zip(axes[0], models, strict=True):
        rows = merged[merged["model"] == model]
        for row in rows.itertuples():
            # the merged row carries the performance run's own columns unsuffixed
            notes = caveats(merged.loc[row.Index])
            flagged.update(notes)
            colour = colours[row.precision]
            ax.scatter(row.headline, row.top1_acc * 100, marker=markers.get(row.backend, "o"),
                       s=50, edgecolors=colour, facecolors="none" if notes else colour,
                       label=f"{row.backend} {row.precision}")
            series += 1
        front = pareto_front([(r.headline, r.top1_acc * 100) for r in rows.itertuples()])
        if front:
            ax.plot(*zip(*front, strict=True), color="black", linewidth=1, linestyle="--",
                    label="Pareto front")
        if rows.empty:
            ax.text(0.5, 0.5, "needs a performance and an accuracy run\nof the same "
                    "configuration", transform=ax.transAxes, ha="center", color="grey")
        ax.set_title(model)
        ax.set_xlabel("SingleStream p90 latency (ms)")
        ax.set_ylabel("top-1 (%)")
    _finish_scatter(fig, axes, series, flagged, "Top-1 against SingleStream p90 latency "
                    f"(up and left is better)\ndevice: {device}")
    return fig, series


def energy_vs_latency(runs: pd.DataFrame, device: str):
    """Energy per inference against each scenario's headline, one panel per scenario, a
    point per model, backend and precision: INT8's energy saving beside its speed-up."""
    data = runs[(runs["mode"] == "performance") & runs["joules_per_inference"].notna()]
    scenarios = [s for s in SCENARIOS if (data["scenario"] == s).any()] or ["(no energy)"]
    precisions = sorted(data["precision"].unique(), key=lambda p: (p != BASELINE, p))
    colours = _precision_colours(precisions)
    markers = dict(zip(sorted(runs["backend"].unique()), "osD^vP*X", strict=False))
    fig, axes = plt.subplots(1, len(scenarios), squeeze=False,
                             figsize=(max(7.5, 5.0 * len(scenarios) + 2), 4.8))
    series, flagged = 0, set()
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        for _, row in data[data["scenario"] == scenario].iterrows():
            notes = caveats(row)
            flagged.update(notes)
            colour = colours[row["precision"]]
            ax.scatter(row["headline"], row["joules_per_inference"] * 1000,
                       marker=markers.get(row["backend"], "o"), s=50, edgecolors=colour,
                       facecolors="none" if notes else colour,
                       label=f"{row['model']} {row['backend']} {row['precision']}")
            series += 1
        if scenario in SCENARIOS:
            headline = get_scenario(scenario).headline
            ax.set_xlabel(f"{headline.label} ({headline.unit})")
        ax.set_title(scenario)
        ax.set_ylabel("energy per inference (mJ)")
    sources = ", ".join(sorted(data["energy_source"].dropna().unique()))
    _finish_scatter(fig, axes, series, flagged, "Energy per inference against the headline "
                    f"(lower is better)\ndevice: {device}; source: {sources or 'none'}")
    return fig, series


def batch_curves(runs: pd.DataFrame, device: str):
    """The Offline batch probe's whole curve per cell, small multiples: samples/s at each
    batch size tried, the size chosen marked, so a cliff (or a choice beside one) shows."""
    data = runs[(runs["scenario"] == "offline") & (runs["mode"] == "performance")
                & runs["batch_probe"].notna()].sort_values(["model", "backend", "precision"])
    panels = max(1, len(data))
    columns = min(4, panels)
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False,
                             figsize=(3.2 * columns + 0.5, 2.6 * rows + 0.9))
    series = 0
    for ax, (_, row) in zip(axes.flat, data.iterrows(), strict=False):
        curve = {int(size): rate for size, rate in json.loads(row["batch_probe"]).items()}
        sizes = sorted(curve)
        ax.plot(sizes, [curve[s] for s in sizes], marker="o", color="tab:blue")
        chosen = row["batch_size"]
        if not pd.isna(chosen) and int(chosen) in curve:
            ax.plot([int(chosen)], [curve[int(chosen)]], marker="*", markersize=14,
                    color="tab:red", linestyle="none")
        if not pd.isna(row["throughput_sps"]):
            ax.axhline(row["throughput_sps"], color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_title(f"{row['model']} {row['backend']} {row['precision']}", fontsize=8)
        ax.tick_params(labelsize=7)
        series += 1
    for ax in list(axes.flat)[series:]:
        ax.axis("off")
    fig.suptitle(f"Offline batch probe: samples/s per batch size (star: chosen; dashed: "
                 f"LoadGen's run)\ndevice: {device}", fontsize=10)
    fig.tight_layout()
    return fig, series


def latency_cdf(runs: pd.DataFrame, model: str, scenario: str):
    """Figure 6: distribution of the per-query latencies LoadGen recorded, one panel per
    device; colour is the backend, line style the precision."""
    rows = runs[(runs["model"] == model) & (runs["scenario"] == scenario)
                & (runs["mode"] == "performance") & runs["latencies_file"].notna()]
    devices = sorted(rows["device"].unique()) or ["(no latencies recorded)"]
    backends = sorted(runs["backend"].unique())
    precisions = sorted(runs["precision"].unique(), key=lambda p: (p != BASELINE, p))
    styles = dict(zip(precisions, ["-", "--", ":", "-."] * 3, strict=False))
    fig, axes = plt.subplots(1, len(devices), figsize=(max(8, 5.5 * len(devices) + 2.5), 4.8),
                             squeeze=False, sharex=True)
    series = 0
    for ax, device in zip(axes[0], devices, strict=True):
        for row in rows[rows["device"] == device].itertuples():
            try:
                latencies = np.sort(np.load(row.latencies_file))
            except (OSError, ValueError):
                continue
            if not len(latencies):
                continue
            notes = caveats(runs.loc[row.Index])
            ax.plot(latencies, np.arange(1, len(latencies) + 1) / len(latencies),
                    color=plt.get_cmap("tab10")(backends.index(row.backend) % 10),
                    linestyle=styles[row.precision], alpha=0.45 if notes else 1.0,
                    label=f"{row.backend} {row.precision}" + (" *" if notes else ""))
            series += 1
        ax.set_xscale("log")
        ax.set_title(f"device: {device}")
        ax.set_xlabel("latency (ms, log scale)" + (", per query"
                                                  if get_scenario(scenario).latencies_per_query
                                                  else ", per sample from the query's start"))
        ax.set_ylabel("fraction of queries at or below")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Latency distribution: {model}, {scenario}\n"
                 "colour: backend, line style: precision; * faded: not a full valid "
                 "measurement", fontsize=10)
    fig.tight_layout()
    return fig, series


def device_comparison(runs: pd.DataFrame, scenario: str):
    """Figure 7: one configuration on every device found, side by side."""
    data = runs[(runs["scenario"] == scenario) & (runs["mode"] == "performance")
                & ~runs["unsupported"]]
    devices = sorted(data["device"].unique())
    configs = sorted({(r.model, r.backend, r.precision) for r in data.itertuples()})
    headline = get_scenario(scenario).headline
    label, unit = headline.label, headline.unit
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(configs) + 2), 4.8))
    width = 0.8 / max(1, len(devices))
    flagged, values = set(), []
    for j, device in enumerate(devices):
        for i, config in enumerate(configs):
            cell = data[(data["device"] == device) & (data["model"] == config[0])
                        & (data["backend"] == config[1]) & (data["precision"] == config[2])]
            if cell.empty:
                continue
            notes = caveats(cell.iloc[0])
            flagged.update(notes)
            values.append(cell.iloc[0]["headline"])
            ax.bar(i + (j - (len(devices) - 1) / 2) * width, cell.iloc[0]["headline"], width,
                   color=plt.get_cmap("Set2")(j % 8), hatch=HATCH if notes else None,
                   edgecolor="black", linewidth=0.5)
    _log_scale_if_spread(ax, values)
    ax.set_xticks(range(len(configs)), ["\n".join(c) for c in configs], fontsize=7)
    ax.set_ylabel(f"{label} ({unit})")
    ax.set_title(f"Devices compared: {scenario} {label}")
    ax.legend([plt.Rectangle((0, 0), 1, 1, color=plt.get_cmap("Set2")(j % 8))
               for j in range(len(devices))], devices, title="device")
    _footnote(fig, flagged)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig, len(devices)


def quantizers_vs_latency(matrix: pd.DataFrame, device: str):
    """The quantizer section's figure: per model, deployed top-1 against latency per
    sample for each quantizer (filled), its simulated top-1 beside it (hollow, joined):
    how far the accuracy one would report from simulation is from the one shipped."""
    made = matrix[matrix["quantizer"].notna() & matrix["top1"].notna()
                  & matrix["value"].notna()] if "quantizer" in matrix else matrix.iloc[:0]
    # latency per sample: SingleStream's p90 where measured, else 1000 / Offline's rate
    single = made[made["scenario"] == "single-stream"]
    timed = single if not single.empty else made[made["scenario"] == "offline"]
    axis = "SingleStream p90 latency (ms)" if not single.empty else \
        "Offline time per sample (ms, 1000 / samples per second)"
    timed = timed.drop_duplicates(["model", "backend", "precision", "quantizer"])
    models = sorted(timed["model"].unique()) or ["(no quantizer with speed and top-1)"]
    colours = _precision_colours(sorted(timed["quantizer"].unique()))
    markers = dict(zip(sorted(timed["backend"].unique()), "osD^vP*X", strict=False))
    fig, axes = plt.subplots(1, len(models), figsize=(max(7.5, 5.5 * len(models) + 2), 4.8),
                             squeeze=False)
    series = 0
    for ax, model in zip(axes[0], models, strict=True):
        for _, row in timed[timed["model"] == model].iterrows():
            ms = row["value"] if row["scenario"] == "single-stream" else 1000 / row["value"]
            colour, marker = colours[row["quantizer"]], markers.get(row["backend"], "o")
            ax.scatter(ms, row["top1"] * 100, marker=marker, s=50, color=colour,
                       label=f"{row['backend']} {row['precision']} {row['quantizer']}")
            simulated = row["simulated top1"]
            if simulated is not None and not pd.isna(simulated):
                ax.scatter(ms, simulated * 100, marker=marker, s=50, edgecolors=colour,
                           facecolors="none")
                ax.plot([ms, ms], [row["top1"] * 100, simulated * 100], color=colour,
                        linewidth=0.8)
            series += 1
        ax.set_title(model)
        ax.set_xlabel(axis)
        ax.set_ylabel("top-1 (%)")
    if series:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center right", fontsize=7,
                   title="filled: deployed\nhollow: simulated\ncolour: quantizer\n"
                   "shape: backend", title_fontsize=7)
    fig.suptitle(f"Quantizers: deployed (filled) and simulated (hollow) top-1 against "
                 f"latency\ndevice: {device}", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 0.8, 1))
    return fig, series


def profile_bars(profiles: list[dict], device: str, model: str):
    """Where one inference's time goes: a stacked bar per backend x precision, one
    segment per layer class (ms per inference, from `--profile` runs)."""
    from harness.core.layer_classes import LAYER_CLASSES
    from reports.profiles import label

    rows = sorted((r for r in profiles if r["device"] == device and r["model"] == model),
                  key=lambda r: (r["backend"], r["precision"], label(r)))
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.45 * max(1, len(rows))))
    colours = plt.get_cmap("tab10")
    series = set()
    for i, row in enumerate(rows):
        left = 0.0
        for j, layer_class in enumerate(LAYER_CLASSES):
            ms = row["profile"]["by_class_ms"].get(layer_class)
            if not ms:
                continue
            ax.barh(i, ms, left=left, color=colours(j), edgecolor="black", linewidth=0.4,
                    label=layer_class if layer_class not in series else None)
            series.add(layer_class)
            left += ms
    ax.set_yticks(range(len(rows)), [f"{label(r)} ({r['scenario']})" for r in rows],
                  fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("operator time per inference (ms), by layer class")
    ax.set_title(f"{model} on {device}: where the time goes (--profile runs)")
    if series:  # beside the bars, never over them
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig, len(rows) if series else 0
