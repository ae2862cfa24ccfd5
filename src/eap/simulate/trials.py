"""Planning a similar program: what would a cohort of n patients yield?

A large virtual population (``pool_scale`` copies of MM-024) is generated once;
each replicate draws ``n`` patients without replacement from its treatment
cohort (or from the whole safety population) and records the Kaplan-Meier
median PFS with its 95% confidence interval (log-log, Brookmeyer-Crowley) and
whether at least one patient had a second primary malignancy. The spread of
these over replicates is what a program of that size should expect.

Two pools:

* ``model="protocol"`` (default): a protocol-model cohort (eap.simulate.model) of
  199 x ``pool_scale`` MM-021 patients, each simulated independently through the
  protocol's rules. What-ifs change the inputs of the model: another protocol file
  (a dose-reduction ladder, a follow-up interval) or other parameters (higher
  consent rates, say).
* ``model="exact"``: ``pool_scale`` copies of the exact-mode cohort, which repeats
  the 80 calibrated MM-024 courses; each drawn time is then multiplied by
  exp(N(0, smooth^2)) (a smoothed bootstrap, default smooth = 0.05).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from eap.derive.adtte import derive_adtte
from eap.errors import EapError
from eap.protocol import Protocol, load_protocol
from eap.simulate.course import CUTOFF
from eap.simulate.model import ModelParams
from eap.stats import kaplan_meier


@dataclass(frozen=True)
class TrialsResult:
    """Per replicate: median PFS, its CI bounds (None where not reached) and any SPM."""

    n: int
    population: str
    replicates: pl.DataFrame  # MEDIAN, LOWER, UPPER, WIDTH, SPM, REDUCED, FUVISITS
    conf_type: str = "log-log"

    def summary(self) -> pl.DataFrame:
        """Quantiles over replicates of the median PFS, its CI bounds and width, the
        share of patients with a dose reduction and the mean number of follow-up visits."""
        r = self.replicates
        rows = []
        for name in ("MEDIAN", "LOWER", "UPPER", "WIDTH", "REDUCED", "FUVISITS"):
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
    model: str = "protocol",
    params: ModelParams | None = None,
    protocol: Protocol | None = None,
) -> TrialsResult:
    """Resample ``replicates`` cohorts of ``n`` patients from a virtual MM-024 population."""
    from eap.simulate import simulate
    from eap.simulate.model_cohort import simulate_model

    if model == "protocol":
        sdtm = simulate_model(seed, pool_scale, params, protocol=protocol)
        smooth = 0.0  # independent patients: nothing to smooth
    elif model == "exact":
        sdtm = simulate(seed, pool_scale)
    else:
        raise EapError("unknown model", variable="--model", expected="protocol, exact", found=model)
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
    drug = (protocol or load_protocol()).dose_reduction.drug
    per_patient = adtte.select("USUBJID").join(
        patient_features(sdtm, drug), on="USUBJID", how="left", maintain_order="left"
    )
    reduced = per_patient["REDUCED"].fill_null(False).to_numpy()
    visits = per_patient["FUVISITS"].fill_null(0).to_numpy()
    if n > len(times):
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
        drawn = times[pick] * np.exp(rng.normal(0.0, smooth, n)) if smooth else times[pick]
        curve = kaplan_meier(drawn, events[pick]).curves[0]
        m = curve.median
        width = (m.upper - m.lower) if m.upper is not None and m.lower is not None else None
        rows.append(
            (
                m.estimate,
                m.lower,
                m.upper,
                width,
                bool(has_spm[pick].any()),
                float(reduced[pick].mean()),
                float(visits[pick].mean()),
            )
        )
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
            "REDUCED": pl.Float64,
            "FUVISITS": pl.Float64,
        },
        orient="row",
    )
    return TrialsResult(n=n, population=population, replicates=frame)


def patient_features(sdtm: dict[str, Any], drug: str) -> pl.DataFrame:
    """Per patient: REDUCED (a dose of ``drug``, the protocol's reduced drug, below the
    first one) and FUVISITS (survival follow-up visits), the quantities a dose-reduction
    rule or a follow-up interval changes."""
    dm: pl.DataFrame = sdtm["DM"].frame.select("USUBJID")
    ex: pl.DataFrame = (
        sdtm["EX"].frame.filter(pl.col("EXTRT") == drug.upper()).sort("USUBJID", "EXSTDTC")
    )
    reduced = ex.group_by("USUBJID").agg(
        (pl.col("EXDOSE").min() < pl.col("EXDOSE").first()).alias("REDUCED")
    )
    sv = sdtm["SV"].frame.filter(pl.col("EPOCH") == "FOLLOW-UP")
    visits = sv.group_by("USUBJID").agg(pl.len().cast(pl.Float64).alias("FUVISITS"))
    return (
        dm.join(reduced, on="USUBJID", how="left")
        .join(visits, on="USUBJID", how="left")
        .with_columns(pl.col("REDUCED").fill_null(False), pl.col("FUVISITS").fill_null(0.0))
    )


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
