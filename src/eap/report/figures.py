"""Figures drawn from an output's ARD rows by its plan entry (matplotlib; SVG and PNG).

Kinds: ``km_figure`` (Kaplan-Meier curves, one per column, censor marks, numbers
at risk under the axis at the plan's ``risk_times``), ``swimmer`` (time on
treatment per subject with event markers), ``flow`` (a disposition diagram whose
boxes take their counts from the ARD) and ``intervals`` with ``figure = true``
(first onsets by interval, bars per term).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from eap.plans.plan import Output, Plan
from eap.plans.study import Study

COLORS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6")
SWIMMER_MAX = 60


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    # SVG element ids from a fixed salt, not a random one: the same figure, the same bytes.
    matplotlib.rcParams["svg.hashsalt"] = "eap"
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True)
class KmArm:
    """One curve of a Kaplan-Meier figure, as its ARD rows give it."""

    name: str
    color: str
    steps: pl.DataFrame  # T, stat: the survival estimate from each time on
    censored: list[float]
    at_risk: dict[float, int]
    n: int | None
    events: int | None
    median: tuple[float | None, float | None, float | None]


def _km_arms(output: Output, rows: pl.DataFrame, study: Study, param: str) -> list[KmArm]:
    """The curves of one parameter, one per display column, from the ARD rows."""
    from eap.report.layout import display_columns

    arms = []
    for i, col in enumerate(display_columns(output, rows, study)):
        mine = rows.filter(
            (pl.col("population") == col.population)
            & (
                pl.col("group1_level").is_null()
                if col.level is None
                else pl.col("group1_level") == col.level
            )
            & (pl.col("group2_level") == param)
        )
        curve = mine.filter(pl.col("context") == "survival_curve").with_columns(
            pl.col("variable_level").cast(pl.Float64).alias("T")
        )
        steps = curve.filter(
            (pl.col("variable") == "curve") & (pl.col("stat_name") == "estimate")
        ).sort("T")
        stats = {
            (v, lv, s): x
            for v, lv, s, x in mine.filter(pl.col("context") == "survival")
            .select("variable", "variable_level", "stat_name", "stat")
            .iter_rows()
        }

        def count(stat: str, got: dict[tuple[Any, Any, Any], Any] = stats) -> int | None:
            value = got.get(("time_to_event", None, stat))
            return None if value is None else int(value)

        arms.append(
            KmArm(
                name=col.header.split(" (N")[0],
                color=COLORS[i % len(COLORS)],
                steps=steps.select("T", "stat"),
                censored=curve.filter(pl.col("stat_name") == "n.censor")["T"].to_list(),
                at_risk={
                    float(t): int(v)
                    for t, v in curve.filter(pl.col("stat_name") == "n.risk")
                    .select("T", "stat")
                    .iter_rows()
                },
                n=count("n"),
                events=count("events"),
                median=(
                    stats.get(("prob", "0.5", "estimate")),
                    stats.get(("prob", "0.5", "conf.low")),
                    stats.get(("prob", "0.5", "conf.high")),
                ),
            )
        )
    return arms


def km_legend_label(arm: KmArm, unit: str) -> str:
    """``Rd: n = 80, events = 45, median 33.9 (24.1–NE) months`` (NE: not estimable)."""
    from eap.report.tables import number

    estimate, low, high = (number(v, "xx.x") for v in arm.median)
    median = f"median {estimate} ({low}–{high})" + (f" {unit}" if unit else "")
    return f"{arm.name}: n = {arm.n or 0}, events = {arm.events or 0}, {median}"


def km_figure(output: Output, rows: pl.DataFrame, study: Study) -> object:
    """Kaplan-Meier curves in the manner of ggsurvfit.

    One curve per column with censor marks (+), the median read off each curve (a dashed
    line at 0.5 to the curve and down to the axis, where the median is reached), a legend
    with n, events and the median (95% CI), the log-rank p and hazard ratios when the
    ARD has them, and the numbers at risk in a table whose columns sit under the x-axis
    ticks: the breaks are the ARD's ``n.risk`` times.
    """
    plt = _pyplot()
    f = output.fields
    param = f.texts("paramcd")[0]
    arms = [a for a in _km_arms(output, rows, study, param) if a.steps.height]
    breaks = sorted({t for a in arms for t in a.at_risk})
    fig = plt.figure(figsize=(8, 5.0 + 0.28 * max(len(arms), 1)))
    grid = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.45 + 0.28 * max(len(arms), 1)], hspace=0.3)
    ax = fig.add_subplot(grid[0])
    risk = fig.add_subplot(grid[1])
    unit = str(f.data.get("time_unit", ""))
    for arm in arms:
        ax.step(
            arm.steps["T"],
            arm.steps["stat"],
            where="post",
            color=arm.color,
            linewidth=1.4,
            label=km_legend_label(arm, unit),
        )
        at = arm.steps.filter(pl.col("T").is_in(arm.censored))
        ax.plot(at["T"], at["stat"], "+", color=arm.color, markersize=7, markeredgewidth=1.1)
        median = arm.median[0]
        if median is not None:
            # ggsurvfit's add_quantile(): across at 0.5 to the curve, then down to the axis.
            ax.plot([0, median], [0.5, 0.5], "--", color="#555", linewidth=0.8)
            ax.plot([median, median], [0, 0.5], "--", color="#555", linewidth=0.8)
    tests = _test_lines(rows, param)
    if tests:
        ax.text(
            0.02,
            0.03,
            "\n".join(tests),
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=7.5,
            bbox={"facecolor": "white", "edgecolor": "#bbb", "boxstyle": "round,pad=0.4"},
        )
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel(str(f.data.get("time_label", "Time")))
    fig.suptitle(str(f.data.get("labels", {}).get(param, param)), fontsize=11, x=0.5, y=0.985)
    ax.grid(alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)
    if arms:
        # Above the plot, as ggsurvfit's legend sits outside it: the curves stay clear.
        ax.legend(
            loc="lower left", bbox_to_anchor=(0.0, 1.01), frameon=False, fontsize=8, borderaxespad=0
        )
    else:
        ax.text(0.5, 0.5, "No subjects in this analysis", ha="center", transform=ax.transAxes)
    limits = (0.0, max(breaks)) if breaks else None
    if limits is not None and limits[1] > 0:
        # The same limits and breaks on both axes put each count under its tick.
        ax.set_xlim(*limits)
        ax.set_xticks(breaks)
        ax.set_xticklabels([f"{t:g}" for t in breaks])
        risk.set_xlim(*limits)
    for i, arm in enumerate(arms):
        y = len(arms) - 1 - i
        for t in breaks:
            n = arm.at_risk.get(t)
            shown = "" if n is None else str(n)
            risk.text(t, y, shown, ha="center", va="center", fontsize=8, color=arm.color)
    risk.set_yticks(range(len(arms)))
    labels = risk.set_yticklabels([a.name for a in reversed(arms)], fontsize=8)
    for label, arm in zip(labels, reversed(arms), strict=True):
        label.set_color(arm.color)
    risk.set_ylim(-0.6, max(len(arms), 1) - 0.4)
    risk.set_xticks([])
    risk.set_title("Number at risk", fontsize=8, loc="left", pad=2)
    for spine in ("top", "right", "left", "bottom"):
        risk.spines[spine].set_visible(False)
    risk.tick_params(left=False, pad=12)
    top = 0.93 - 0.035 * max(len(arms), 1)
    fig.subplots_adjust(left=0.2, right=0.96, top=top, bottom=0.03)
    return fig


def _test_lines(rows: pl.DataFrame, param: str) -> list[str]:
    """The log-rank p-value and Cox hazard ratios of a figure's ARD rows, as text lines."""
    from eap.report.tables import interval, number, p_value

    mine = rows.filter(pl.col("group2_level") == param)
    lines = []
    overall = mine.filter((pl.col("variable") == "logrank") & (pl.col("stat_name") == "p.value"))
    if overall.height:
        shown = p_value(overall["stat"][0])
        lines.append(f"Log-rank p {shown}" if shown.startswith("<") else f"Log-rank p = {shown}")
    cox = mine.filter(pl.col("context") == "coxph")
    for variable in cox["variable"].unique(maintain_order=True).to_list():
        ties = variable.removeprefix("cox_").capitalize()
        lines.append(f"Hazard ratio (95% CI), Cox, {ties} ties:")
        for level in cox.filter(pl.col("variable") == variable)["group1_level"].unique(
            maintain_order=True
        ):
            stats = dict(
                cox.filter((pl.col("variable") == variable) & (pl.col("group1_level") == level))
                .select("stat_name", "stat")
                .rows()
            )
            shown = interval(
                number(stats.get("estimate"), "xx.xx"),
                number(stats.get("conf.low"), "xx.xx"),
                number(stats.get("conf.high"), "xx.xx"),
            )
            lines.append(f"  {level}: {shown}")
    return lines


def intervals_figure(output: Output, rows: pl.DataFrame, study: Study) -> object:
    """First onsets by interval of time on treatment: a bar per term in each interval."""
    plt = _pyplot()
    f = output.fields
    pct = rows.filter(
        (pl.col("variable") == "ONSET")
        & (pl.col("stat_name") == "p")
        & (pl.col("population") == output.populations[0])
        & pl.col("group1_level").is_null()
    )
    terms = list(f.texts("terms", ("ANY",)))
    labels = {str(k): str(v) for k, v in f.data.get("term_labels", {}).items()}
    spans = pct["variable_level"].unique(maintain_order=True).to_list()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(len(terms), 1)
    for k, term in enumerate(terms):
        values = []
        for span in spans:
            hit = pct.filter((pl.col("group2_level") == term) & (pl.col("variable_level") == span))
            value = hit["stat"][0] if hit.height else None
            values.append(0.0 if value is None else 100.0 * value)
        xs = [i + (k - (len(terms) - 1) / 2) * width for i in range(len(spans))]
        ax.bar(xs, values, width=width, label=labels.get(term, term))
    unit = str(f.data.get("interval_unit", ""))
    ax.set_xticks(range(len(spans)))
    ax.set_xticklabels(
        [s.replace("-", "–") if not s.endswith("-") else f"≥ {s[:-1]}" for s in spans]
    )
    ax.set_xlabel(f"Time on treatment, {unit} (interval of first onset)")
    ax.set_ylabel("% of subjects at risk at the interval start")
    ax.set_title(output.title)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.2)
    fig.tight_layout()
    return fig


RESPONSE_MARKERS = {
    # Distinct shapes, deepening colour as the response deepens.
    "PR": ("^", "#74c476"),
    "VGPR": ("s", "#238b45"),
    "CR": ("*", "#00441b"),
    "sCR": ("P", "#000000"),
}


def swimmer_figure(output: Output, rows: pl.DataFrame, study: Study) -> object:
    """Each subject's time on treatment, subject IDs on the y-axis, with event and response
    markers (the first time each response category was reached); an arrow if still on it."""
    plt = _pyplot()
    f = output.fields
    limit = int(f.data.get("max_subjects", SWIMMER_MAX))
    durations = rows.filter(pl.col("variable") == "duration").sort(
        ["stat", "group2_level"], descending=[True, False]
    )
    total = durations.height
    # One bar per subject is readable up to about 60 subjects: larger cohorts show the
    # longest courses (the axis label says so).
    subjects = durations["group2_level"].to_list()[:limit]
    mine = rows.filter(pl.col("group2_level").is_in(subjects))
    by_subject = {key[0]: group for key, group in mine.group_by("group2_level")}
    fig, ax = plt.subplots(figsize=(8.5, 0.2 * len(subjects) + 1.8))
    styles = ("v", "o", "D", "X", "s", "^")
    colours = ("#7f7f7f", "#d62728", "#ff7f0e", "#000000", "#2ca02c", "#9467bd")
    markers = {
        ("event", e.text("name")): (
            styles[i % 6],
            colours[i % 6],
            e.text("label", e.text("name")),
        )
        for i, e in enumerate(f.tables("events"))
    }
    if "responses" in f.data:
        spec = f.table("responses")
        labels = {str(k): str(v) for k, v in spec.data.get("labels", {}).items()}
        for j, category in enumerate(spec.texts("categories")):
            mark, colour = RESPONSE_MARKERS.get(category, (styles[j % 6], colours[-1 - j % 6]))
            markers[("response", category)] = (mark, colour, labels.get(category, category))
    # Each kind of event on its own line within the bar: a reduction on the day of the
    # grade 3-4 AE that caused it would otherwise hide under that AE's marker.
    kinds = [key for key in markers if key[0] == "event"]
    lift = {key: (k - (len(kinds) - 1) / 2) * 0.25 for k, key in enumerate(kinds)}
    seen: set[str] = set()
    ordered = list(reversed(subjects))
    for y, subject in enumerate(ordered):
        me = by_subject[subject]
        length = float(me.filter(pl.col("variable") == "duration")["stat"][0] or 0.0)
        ongoing = bool(me.filter(pl.col("variable") == "ongoing")["stat"][0])
        ax.barh(y, length, height=0.6, color="#c6dbef")
        if ongoing:
            ax.annotate(
                "", xy=(length + 1.5, y), xytext=(length, y), arrowprops={"arrowstyle": "->"}
            )
        for (variable, name), (mark, color, label) in markers.items():
            times = me.filter(
                (pl.col("variable") == variable) & (pl.col("variable_level") == name)
            )["stat"]
            if times.len():
                big = variable == "response"
                ax.plot(
                    times.to_list(),
                    [y + lift.get((variable, name), 0.0)] * times.len(),
                    mark,
                    color=color,
                    markersize=(10 if mark == "*" else 6) if big else 4,
                    markeredgewidth=0.4,
                    markeredgecolor="white" if big else color,
                    zorder=3 if big else 2,
                )
                seen.add(label)
    ax.set_yticks(range(len(ordered)))
    ax.set_yticklabels(ordered, fontsize=6)
    ax.set_ylim(-0.7, max(len(ordered), 1) - 0.3)
    shown = f"{len(subjects)} longest of {total}" if total > len(subjects) else f"N = {total}"
    ax.set_ylabel(f"{study.population(output.populations[0]).label} ({shown})")
    ax.set_xlabel(str(f.data.get("time_label", "Time")))
    ax.set_title(output.title)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.25)
    if seen:
        # In the plan's order (events, then responses), outside the plot where no bar runs.
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], linestyle="", marker=mark, color=color, label=label, markersize=6)
            for mark, color, label in markers.values()
            if label in seen
        ]
        ax.legend(
            handles=handles, frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0)
        )
    if not subjects:
        ax.text(0.5, 0.5, "No subjects", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class ForestRow:
    """One line of a forest plot: its label, counts text and the estimate with its CI."""

    label: str
    header: bool
    counts: str = ""
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    color: str = "#1f4e79"
    overall: bool = False


def _forest_stats(rows: pl.DataFrame, group2: str | None, level: str | None) -> dict[str, Any]:
    mine = rows.filter(
        (pl.col("group2").is_null() if group2 is None else pl.col("group2") == group2)
        & (pl.col("group2_level").is_null() if level is None else pl.col("group2_level") == level)
    )
    return dict(mine.select("stat_name", "stat").rows())


def forest_rows(output: Output, rows: pl.DataFrame, study: Study) -> list[ForestRow]:
    """The lines of a forest plot from its ARD rows: the whole column, then each subgroup."""
    from eap.report.layout import display_columns

    f = output.fields
    mine = rows.filter(pl.col("context") == "forest")
    response = f.text("measure") == "response"
    cols = display_columns(output, rows, study)
    if response:
        first = cols[0]
        series = [(first.header.split(" (N")[0], None, COLORS[0])]
        mine = mine.filter(pl.col("population") == first.population)
        mine = mine.filter(
            pl.col("group1_level").is_null()
            if first.level is None
            else pl.col("group1_level") == first.level
        )
    else:
        arms = mine["group1_level"].unique(maintain_order=True).to_list()
        names = {c.level: c.header.split(" (N")[0] for c in cols}
        series = [
            (names.get(a, str(a)), a, COLORS[(i + 1) % len(COLORS)]) for i, a in enumerate(arms)
        ]

    def lines(label: str, group2: str | None, level: str | None) -> list[ForestRow]:
        out = []
        for name, arm, color in series:
            part = mine if arm is None else mine.filter(pl.col("group1_level") == arm)
            stats = _forest_stats(part, group2, level)
            if response:
                counts = f"{int(stats.get('n') or 0)}/{int(stats.get('N') or 0)}"
            else:
                counts = f"{int(stats.get('N') or 0)} ({int(stats.get('events') or 0)})"
            shown = label if len(series) == 1 else f"{label}: {name}"
            out.append(
                ForestRow(
                    shown,
                    False,
                    counts,
                    stats.get("estimate"),
                    stats.get("conf.low"),
                    stats.get("conf.high"),
                    color,
                    overall=group2 is None,
                )
            )
        return out

    out = lines("All subjects", None, None)
    for spec in f.tables("subgroups"):
        name = spec.text("name")
        labels = {str(k): str(v) for k, v in spec.data.get("labels", {}).items()}
        out.append(ForestRow(spec.text("label", name), True))
        levels = mine.filter(pl.col("group2") == name)["group2_level"].unique(maintain_order=True)
        for level in levels.to_list():
            out.extend(lines("   " + labels.get(level, level), name, level))
    return out


def forest_figure(output: Output, rows: pl.DataFrame, study: Study) -> object:
    """A forest plot: label, counts and estimate (95% CI) columns beside point and whisker.

    Response rates on a 0-100% axis with the whole column's rate as the dashed reference;
    hazard ratios on a log axis with the dashed line at 1.
    """
    from matplotlib.transforms import blended_transform_factory

    from eap.report.tables import interval, number

    plt = _pyplot()
    f = output.fields
    response = f.text("measure") == "response"
    lines = forest_rows(output, rows, study)
    height = 0.27 * len(lines) + 1.4  # inches: a line each, the title and the axis
    fig, ax = plt.subplots(figsize=(9.5, height))
    fig.subplots_adjust(left=0.42, right=0.72, top=1 - 0.5 / height, bottom=0.6 / height)
    text_at = blended_transform_factory(fig.transFigure, ax.transData)
    scale = 100.0 if response else 1.0
    fmt = "xx.x" if response else "xx.xx"
    bounds: list[float] = []
    for i, line in enumerate(lines):
        y = len(lines) - 1 - i
        weight = "bold" if line.header or line.overall else "normal"
        ax.text(0.01, y, line.label, transform=text_at, va="center", fontsize=8, weight=weight)
        if line.header:
            continue
        ax.text(0.39, y, line.counts, transform=text_at, va="center", ha="right", fontsize=8)
        shown = interval(
            *(
                number(None if v is None else v * scale, fmt)
                for v in (line.estimate, line.low, line.high)
            )
        )
        ax.text(0.74, y, shown, transform=text_at, va="center", fontsize=8)
        if line.estimate is None:
            continue
        low = line.low if line.low is not None else line.estimate
        high = line.high if line.high is not None else line.estimate
        ax.plot([low * scale, high * scale], [y, y], color=line.color, linewidth=1.2)
        ax.plot([line.estimate * scale], [y], "s", color=line.color, markersize=5)
        bounds += [v * scale for v in (low, high) if v is not None and v > 0]
    top = len(lines) - 0.4
    headers = (
        "n/N" if response else "N (events)",
        "Rate, % (95% CI)" if response else "HR (95% CI)",
    )
    ax.text(
        0.39, top, headers[0], transform=text_at, ha="right", va="bottom", fontsize=8, weight="bold"
    )
    ax.text(0.74, top, headers[1], transform=text_at, va="bottom", fontsize=8, weight="bold")
    ax.set_ylim(-0.7, len(lines) - 0.3)
    ax.set_yticks([])
    ax.spines[["top", "right", "left"]].set_visible(False)
    label = str(f.table("endpoint").data.get("label", ""))
    if response:
        overall = lines[0].estimate if lines else None
        if overall is not None:
            ax.axvline(overall * 100, color="#777", linestyle="--", linewidth=0.8)
        ax.set_xlim(0, 100)
        ax.set_xlabel(label or "Response rate, %", fontsize=9)
    else:
        ax.set_xscale("log")
        ax.axvline(1.0, color="#777", linestyle="--", linewidth=0.8)
        lo = min([*bounds, 0.5])
        hi = max([*bounds, 2.0])
        ax.set_xlim(lo / 1.2, hi * 1.2)
        ax.set_xlabel(label or "Hazard ratio", fontsize=9)
        ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32) if lo / 1.2 <= t <= hi * 1.2]
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ref = f.optional_text("reference")
        if ref:
            # Below 1 the arm's hazard is lower than the reference's.
            at_one = blended_transform_factory(ax.transData, ax.transAxes)
            for text, dx, ha in (
                ("← favours the arm", -6, "right"),
                (f"favours {ref} →", 6, "left"),
            ):
                ax.annotate(
                    text,
                    xy=(1.0, 0.0),
                    xycoords=at_one,
                    xytext=(dx, -34),
                    textcoords="offset points",
                    ha=ha,
                    va="top",
                    fontsize=7,
                    color="#555",
                )
    ax.tick_params(labelsize=8)
    fig.suptitle(output.title, fontsize=10, y=0.995)
    return fig


def flow_figure(output: Output, rows: pl.DataFrame, study: Study) -> object:
    """A disposition diagram: the plan's boxes with counts from the output's ARD rows."""
    plt = _pyplot()
    f = output.fields
    values = {
        v: ("NE" if s is None else f"{int(s)}")
        for v, s in rows.filter(pl.col("stat_name") == "n").select("variable", "stat").iter_rows()
    }
    fig, ax = plt.subplots(figsize=(9, 6))
    ax.set_axis_off()
    for box in f.tables("boxes"):
        box.unknown(("x", "y", "text"))
        ax.text(
            float(box.data["x"]),
            float(box.data["y"]),
            box.text("text").format(**values),
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.5", "facecolor": "#eef3f8", "edgecolor": "#1f4e79"},
        )
    arrows = f.table("arrows", {"lines": []}).data.get("lines", [])
    for x1, y1, x2, y2 in arrows:
        ax.annotate(
            "", xy=(x2, y2), xytext=(x1, y1), arrowprops={"arrowstyle": "->", "color": "#444"}
        )
    ax.set_title(output.title, fontsize=11)
    fig.tight_layout()
    return fig


DRAW: dict[str, Callable[[Output, pl.DataFrame, Study], object]] = {
    "km_figure": km_figure,
    "swimmer": swimmer_figure,
    "forest": forest_figure,
    "flow": flow_figure,
    "intervals": intervals_figure,
}


def svg(fig: object) -> str:
    """The figure as inline SVG text."""
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})  # type: ignore[attr-defined]
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: output id, file stem, title, footnote and how to draw it."""

    id: str
    stem: str
    title: str
    footnote: str
    draw: Callable[[pl.DataFrame], object]


def report_figures(plan: Plan, skipped: tuple[str, ...] | list[str] = ()) -> list[ReportFigure]:
    """The plan's figures in plan order (the HTML, PDF and RTF share this list)."""
    out = []
    for output in plan.outputs:
        if not output.is_figure or output.id in skipped:
            continue
        draw = DRAW[output.kind]

        def drawn(ard: pl.DataFrame, o: Output = output, d: Callable[..., object] = draw) -> object:
            return d(o, ard.filter(pl.col("output") == o.id), plan.study)

        out.append(
            ReportFigure(output.id, output.id, output.title, " ".join(output.footnotes), drawn)
        )
    return out


def write_figures(
    ard: pl.DataFrame, folder: Path, figures: list[ReportFigure]
) -> dict[str, dict[str, Path]]:
    """Every figure drawn once and saved as PNG and SVG: {stem: {"png", "svg"}}."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    for figure in figures:
        fig = figure.draw(ard)
        written[figure.stem] = {}
        for ext in ("png", "svg"):
            path = folder / f"{figure.stem}.{ext}"
            # No creation date in the files: two runs on the same data give the same bytes.
            meta = {"Date": None} if ext == "svg" else {"Software": None}
            fig.savefig(path, dpi=150, metadata=meta)  # type: ignore[attr-defined]
            written[figure.stem][ext] = path
        plt.close(fig)
    return written
