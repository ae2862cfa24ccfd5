"""Figures of the MM-024 report, drawn from ARD rows (matplotlib; SVG and PNG)."""

from __future__ import annotations

import io
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


def km_figure(ard: pl.DataFrame, param: str) -> object:
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
    ax.legend(loc="lower left", frameon=False)
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
    risk.set_ylim(-0.5, len(risk_rows) - 0.5)
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


def write_km_figures(ard: pl.DataFrame, folder: Path) -> list[Path]:
    """KMG01 for each endpoint as PNG and SVG files."""
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for param in PARAM_TITLES:
        for ext in ("png", "svg"):
            fig = km_figure(ard, param)
            path = folder / f"KMG01_{param}.{ext}"
            fig.savefig(path, dpi=150)  # type: ignore[attr-defined]
            plt.close(fig)  # type: ignore[arg-type]
            written.append(path)
    return written
