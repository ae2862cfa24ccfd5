"""Planning a similar program: what would a cohort of n patients yield?

A large virtual population (``pool_scale`` copies of MM-024) is generated once;
each replicate draws ``n`` patients without replacement from its treatment
cohort (or from the whole safety population) and records the Kaplan-Meier
median PFS with its 95% confidence interval (log-log, Brookmeyer-Crowley) and
whether at least one patient had a second primary malignancy. The spread of
these over replicates is what a program of that size should expect. Because the
pool repeats the 80 calibrated MM-024 courses, each drawn time is multiplied by
exp(N(0, smooth^2)) (a smoothed bootstrap, default smooth = 0.05).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from eap.derive.adtte import derive_adtte
from eap.simulate.course import CUTOFF
from eap.stats import kaplan_meier


@dataclass(frozen=True)
class TrialsResult:
    """Per replicate: median PFS, its CI bounds (None where not reached) and any SPM."""

    n: int
    population: str
    replicates: pl.DataFrame  # MEDIAN, LOWER, UPPER, WIDTH, SPM
    conf_type: str = "log-log"

    def summary(self) -> pl.DataFrame:
        """Quantiles of the median and CI width; share not estimable; P(>= 1 SPM)."""
        r = self.replicates
        rows = []
        for name in ("MEDIAN", "LOWER", "UPPER", "WIDTH"):
            s = r[name].drop_nulls()
            q = [
                s.quantile(p, "linear") if s.len() else None
                for p in (0.025, 0.25, 0.5, 0.75, 0.975)
            ]
            rows.append((name, s.len(), r.height - s.len(), *q))
        return pl.DataFrame(
            rows,
            schema=[
                "STATISTIC",
                "ESTIMABLE",
                "NOT_ESTIMABLE",
                "P2_5",
                "P25",
                "P50",
                "P75",
                "P97_5",
            ],
            orient="row",
        )

    @property
    def p_spm(self) -> float:
        mean = self.replicates["SPM"].cast(pl.Float64).mean()
        return float(mean) if isinstance(mean, int | float) else 0.0


def draw_trials(
    replicates: int,
    n: int,
    *,
    seed: int = 2014,
    population: str = "treatment_cohort",
    pool_scale: int = 25,
    smooth: float = 0.05,
    progress: Callable[[int], None] | None = None,
) -> TrialsResult:
    """Resample ``replicates`` cohorts of ``n`` patients from a virtual MM-024 population."""
    from eap.simulate import simulate

    sdtm = simulate(seed, pool_scale)
    adtte = derive_adtte(sdtm, CUTOFF).frame.filter(pl.col("PARAMCD") == "PFS")
    dm = sdtm["DM"].frame
    if population == "treatment_cohort":
        adtte = adtte.join(dm.filter(pl.col("ARMCD") == "TP").select("USUBJID"), on="USUBJID")
    spm: set[str] = set()
    if "AE" in sdtm and "AECAT" in sdtm["AE"].frame.columns:
        ae = sdtm["AE"].frame
        spm = set(ae.filter(pl.col("AECAT") == "SECOND PRIMARY MALIGNANCY")["USUBJID"].to_list())
    times = adtte["AVAL"].to_numpy()
    events = 1 - adtte["CNSR"].to_numpy()
    has_spm = np.asarray([u in spm for u in adtte["USUBJID"].to_list()])
    if n > len(times):
        from eap.errors import EapError

        raise EapError(
            "replicate size larger than the virtual population",
            variable="--n",
            expected=f"at most {len(times)}",
            found=str(n),
        )
    rng = np.random.default_rng([seed, 7])
    rows = []
    for k in range(replicates):
        pick = rng.choice(len(times), size=n, replace=False)
        # Smoothed resampling: the pool repeats 80 calibrated courses, so each draw
        # is moved by a multiplicative log-normal kernel (``smooth`` = its SD).
        drawn = times[pick] * np.exp(rng.normal(0.0, smooth, n))
        curve = kaplan_meier(drawn, events[pick]).curves[0]
        m = curve.median
        width = (m.upper - m.lower) if m.upper is not None and m.lower is not None else None
        rows.append((m.estimate, m.lower, m.upper, width, bool(has_spm[pick].any())))
        if progress:
            progress(k + 1)
    frame = pl.DataFrame(
        rows,
        schema={
            "MEDIAN": pl.Float64,
            "LOWER": pl.Float64,
            "UPPER": pl.Float64,
            "WIDTH": pl.Float64,
            "SPM": pl.Boolean,
        },
        orient="row",
    )
    return TrialsResult(n=n, population=population, replicates=frame)


def plot_trials(result: TrialsResult, path: str) -> None:
    """Histograms of the median PFS estimate and its CI width (PNG or SVG by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    med = result.replicates["MEDIAN"].drop_nulls().to_numpy()
    width = result.replicates["WIDTH"].drop_nulls().to_numpy()
    from matplotlib.ticker import MaxNLocator

    axes[0].hist(med, bins=30, color="#4477aa")
    for ax in axes:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_xlabel("Median PFS (months)")
    axes[0].set_ylabel("Replicates")
    axes[0].set_title(f"Median PFS, n = {result.n}")
    axes[1].hist(width, bins=30, color="#aa7744")
    axes[1].set_xlabel("Width of 95% CI (months)")
    axes[1].set_title(f"CI width ({result.replicates.height - len(width)} replicates NE)")
    fig.suptitle(
        f"{result.replicates.height} replicate cohorts of the virtual MM-024 "
        f"{result.population.replace('_', ' ')}; "
        f"P(>= 1 SPM) = {result.p_spm:.2f}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
