"""Figures of the MM-024 report, drawn from ARD rows (matplotlib; SVG and PNG)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl

from eap.report.tables import POP_TITLES, POPULATIONS

PARAM_TITLES = {
    "PFS": "Progression-free survival",
    "TTP": "Time to progression",
    "OS": "Overall survival",
    "DOR": "Duration of response",
}
COLORS = {"safety": "#1f4e79", "treatment_cohort": "#c55a11"}
SWIMMER_MAX = 60


def km_figure(ard: pl.DataFrame, param: str = "PFS") -> object:
    """Kaplan-Meier curves by population with censor marks and numbers at risk below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ard.filter((pl.col("ANALYSIS") == "KMG01") & (pl.col("VARIABLE") == param))
    fig, (ax, risk) = plt.subplots(
        2, 1, figsize=(8, 5.2), gridspec_kw={"height_ratios": [4, 1]}, sharex=True
    )
    risk_rows: dict[str, dict[float, int]] = {}
    for pop in POPULATIONS:
        mine = rows.filter(pl.col("POPULATION") == pop).with_columns(
            pl.col("LEVEL").cast(pl.Float64).alias("T")
        )
        steps = mine.filter(pl.col("STAT") == "survival").sort("T")
        if steps.height == 0:
            continue
        ax.step(steps["T"], steps["VALUE"], where="post", color=COLORS[pop], label=POP_TITLES[pop])
        cens = mine.filter(pl.col("STAT") == "censored")["T"]
        at = steps.filter(pl.col("T").is_in(cens.implode()))
        ax.plot(at["T"], at["VALUE"], "|", color=COLORS[pop], markersize=8)
        risk_rows[pop] = {
            t: int(v)
            for t, v in mine.filter(pl.col("STAT") == "n_risk").select("T", "VALUE").iter_rows()
        }
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("Probability")
    ax.set_title(PARAM_TITLES.get(param, param))
    ax.axhline(0.5, color="#999", linewidth=0.6, linestyle=":")
    if risk_rows:
        ax.legend(loc="lower left", frameon=False)
    else:
        ax.text(24, 0.5, "No patients in this analysis", ha="center", color="#555")
    ax.grid(alpha=0.2)
    last = max(
        (t for counts in risk_rows.values() for t, n in counts.items() if n > 0), default=48.0
    )
    limit = 6.0 * (int(last // 6) + 1)
    for i, (pop, counts) in enumerate(risk_rows.items()):
        for t, n in counts.items():
            if t <= limit:
                risk.text(
                    t,
                    len(risk_rows) - 1 - i,
                    str(n),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=COLORS[pop],
                )
    risk.set_yticks(range(len(risk_rows)))
    risk.set_yticklabels([POP_TITLES[p] for p in reversed(list(risk_rows))], fontsize=8)
    risk.set_ylim(-0.5, max(len(risk_rows), 1) - 0.5)
    risk.set_xlabel("Months from first Rd dose" if param != "DOR" else "Months from first response")
    risk.set_title("Number at risk", fontsize=8, loc="left")
    for spine in ("top", "right", "left"):
        risk.spines[spine].set_visible(False)
    risk.tick_params(left=False, pad=14)
    ax.set_xlim(0, limit)
    ax.set_xticks([6.0 * k for k in range(int(limit // 6) + 1)])
    fig.tight_layout()
    return fig


def svg(fig: object) -> str:
    """The figure as inline SVG text."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
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


def report_figures() -> list[ReportFigure]:
    """The report's figures in report order (the HTML, PDF and RTF share this list)."""
    figures = [
        ReportFigure(
            "FLOW01",
            "FLOW01",
            "Figure 1. Study design and patient disposition",
            "Counts computed from the analysis results data; the parent trial's "
            "enrollment as published.",
            flow_figure,
        ),
        ReportFigure(
            "AEG01",
            "AEG01",
            "Grade 3-4 TEAE incidence over time on treatment, safety population",
            "Patients with a first grade 3-4 TEAE in each interval of time on Rd, as a "
            "percentage of the patients still on Rd at the interval's start.",
            toxicity_figure,
        ),
        ReportFigure(
            "SWMG01",
            "SWMG01",
            "Time on Rd, treatment cohort (swimmer plot)",
            f"One bar per patient from the first Rd dose in the parent trial; at most the "
            f"{SWIMMER_MAX} longest courses are drawn. Arrow: on Rd at the data cutoff.",
            swimmer_figure,
        ),
    ]
    for param, title in PARAM_TITLES.items():
        origin = "first response" if param == "DOR" else "first Rd dose in the parent trial"
        figures.append(
            ReportFigure(
                "KMG01",
                f"KMG01_{param}",
                f"Kaplan-Meier estimate of {title.lower()}",
                f"Months (30.4375 days) from {origin}. Censored observations marked |; "
                "numbers at risk below the axis.",
                partial(km_figure, param=param),
            )
        )
    return figures


def write_figures(ard: pl.DataFrame, folder: Path) -> dict[str, dict[str, Path]]:
    """Every report figure drawn once and saved as PNG and SVG: {stem: {"png", "svg"}}."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    for figure in report_figures():
        fig = figure.draw(ard)
        written[figure.stem] = {}
        for ext in ("png", "svg"):
            path = folder / f"{figure.stem}.{ext}"
            fig.savefig(path, dpi=150)  # type: ignore[attr-defined]
            written[figure.stem][ext] = path
        plt.close(fig)  # type: ignore[arg-type]
    return written


def flow_figure(ard: pl.DataFrame) -> object:
    """Figure 1: study design and patient disposition, counts from the ARD."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eap.report.tables import Cells
    from eap.simulate.targets import published

    safety, tc = Cells(ard, "safety"), Cells(ard, "treatment_cohort")

    def n(cells: Cells, analysis: str, variable: str, level: str | None = None) -> int:
        return int(cells.value(analysis, variable, level, "n") or 0)

    n_safety = int(safety.value("DMT01", "N", None, "N") or 0)
    n_tc = int(tc.value("DMT01", "N", None, "N") or 0)
    parent = published()["study"]["parent_trial_enrolled"]
    boxes = {
        (0.5, 0.92): f"MM-021 (parent trial)\nN = {parent} enrolled (published)",
        (0.5, 0.72): f"MM-024 EAP: informed consent\nSafety population N = {n_safety}",
        (
            0.25,
            0.48,
        ): f"Treatment Phase\n(>= 1 year of Rd, progression-free)\nTreatment cohort N = {n_tc}",
        (0.75, 0.48): f"Safety Follow-Up Phase\n(stopped Rd in MM-021)\nN = {n_safety - n_tc}",
        (0.12, 0.2): f"On Rd at cutoff\nN = {n(tc, 'DST01', 'ONGOING')}",
        (0.42, 0.2): (
            f"Discontinued Rd N = {n(tc, 'DST01', 'DISCONTINUED')}\n"
            f"progression {n(tc, 'DST01', 'DCTREAS', 'PROGRESSIVE DISEASE')}, "
            f"death {n(tc, 'DST01', 'DCTREAS', 'DEATH')},\n"
            f"lost to follow-up {n(tc, 'DST01', 'DCTREAS', 'LOST TO FOLLOW-UP')}\n"
            "(survivors: Safety Follow-Up Phase)"
        ),
        (0.75, 0.2): (
            f"Deaths by cutoff: {n(safety, 'DTHT01', 'DEATH')} in the safety population\n"
            f"({n(tc, 'DTHT01', 'DEATH')} in the treatment cohort)"
        ),
    }
    arrows = [
        ((0.5, 0.88), (0.5, 0.77)),
        ((0.45, 0.68), (0.28, 0.54)),
        ((0.55, 0.68), (0.72, 0.54)),
        ((0.2, 0.42), (0.14, 0.25)),
        ((0.3, 0.42), (0.4, 0.27)),
    ]
    fig, ax = plt.subplots(figsize=(9, 6))
    ax.set_axis_off()
    for (x, y), text in boxes.items():
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.5", "facecolor": "#eef3f8", "edgecolor": "#1f4e79"},
        )
    for start, end in arrows:
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "#444"})
    ax.set_title("Figure 1. Study design and patient disposition at data cutoff", fontsize=11)
    fig.tight_layout()
    return fig


def toxicity_figure(ard: pl.DataFrame) -> object:
    """AEG01: grade 3-4 TEAE incidence by time on treatment (AET11 rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ard.filter(
        (pl.col("ANALYSIS") == "AET11")
        & (pl.col("VARIABLE") == "ONSET")
        & (pl.col("STAT") == "pct")
    )
    terms = ["ANY", "Neutropenia", "Anemia", "Thrombocytopenia", "Pneumonia"]
    intervals = ["0-6", "6-12", "12-24", "24-"]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.16
    for k, term in enumerate(terms):
        values = []
        for iv in intervals:
            hit = rows.filter(pl.col("LEVEL") == f"{term}|{iv}")["VALUE"]
            values.append(float(hit[0]) if hit.len() and hit[0] is not None else 0.0)
        xs = [i + (k - 2) * width for i in range(len(intervals))]
        ax.bar(xs, values, width=width, label="Any grade 3-4 TEAE" if term == "ANY" else term)
    ax.set_xticks(range(len(intervals)))
    ax.set_xticklabels(["0-6", "6-12", "12-24", ">= 24"])
    ax.set_xlabel("Months on Rd (interval of first onset)")
    ax.set_ylabel("% of patients at risk at the interval start")
    ax.set_title("Grade 3-4 TEAE incidence over time on treatment (safety population)")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.2)
    fig.tight_layout()
    return fig


def swimmer_figure(ard: pl.DataFrame) -> object:
    """SWMG01: each treatment-cohort patient's time on Rd with reductions, grade 3-4 AEs,
    progression and death; an arrow marks patients still on Rd at the cutoff."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ard.filter(pl.col("ANALYSIS") == "SWMG01")
    durations = rows.filter(pl.col("STAT") == "duration").sort("VALUE", descending=True)
    total = durations.height
    # One bar per patient is readable up to about 60 patients: larger cohorts show the
    # SWIMMER_MAX longest courses (the title says so).
    subjects = durations["VARIABLE"].to_list()[:SWIMMER_MAX]
    rows = rows.filter(pl.col("VARIABLE").is_in(subjects))
    by_subject = {key[0]: group for key, group in rows.group_by("VARIABLE")}
    fig, ax = plt.subplots(figsize=(8, 0.18 * len(subjects) + 1.6))
    markers = {
        "reduction": ("v", "#7f7f7f", "Dose reduction"),
        "grade34": ("o", "#d62728", "Grade 3-4 TEAE"),
        "progression": ("D", "#ff7f0e", "Progression"),
        "death": ("X", "#000000", "Death"),
    }
    seen: set[str] = set()
    for y, subject in enumerate(reversed(subjects)):
        mine = by_subject[subject]
        length = float(mine.filter(pl.col("STAT") == "duration")["VALUE"][0] or 0.0)
        ongoing = bool(mine.filter(pl.col("STAT") == "ongoing")["VALUE"][0])
        ax.barh(y, length, height=0.6, color="#9ecae1")
        if ongoing:
            ax.annotate(
                "", xy=(length + 1.5, y), xytext=(length, y), arrowprops={"arrowstyle": "->"}
            )
        for kind, (mark, color, label) in markers.items():
            times = mine.filter((pl.col("LEVEL") == kind) & (pl.col("STAT") == "time"))["VALUE"]
            if times.len():
                ax.plot(
                    times.to_list(),
                    [y] * times.len(),
                    mark,
                    color=color,
                    markersize=4,
                    label=None if label in seen else label,
                )
                seen.add(label)
    ax.set_yticks([])
    shown = f"{len(subjects)} longest of {total}" if total > len(subjects) else f"N = {total}"
    ax.set_ylabel(f"Treatment-cohort patients ({shown})")
    ax.set_xlabel("Months from first Rd dose")
    ax.set_title("Time on Rd, treatment cohort (arrow: on Rd at cutoff)")
    if seen:
        ax.legend(frameon=False, fontsize=8, loc="lower right")
    if not subjects:
        ax.text(0.5, 0.5, "No treatment-cohort patients", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig
