"""Does the protocol model reproduce the publication in distribution?

For each seed a protocol-model cohort (eap.simulate.model_cohort) goes through
eap's own derivations and the MM-024 plan, and every number of ``eap reproduce``
is read from its ARD. A published number is **covered** when it lies within the
central 95% of the simulated values (the 2.5th to 97.5th percentile, type 7
quantiles as R's default): a median that is not estimable in a cohort counts as
+infinity (beyond the follow-up), and a published "NE" is covered when at least
2.5% of the cohorts give NE. The goal (issue: a virtual cohort that lives by the
protocol) is at least 95% of the published numbers covered over 200 seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import polars as pl

from eap.simulate.course import CUTOFF


def _number(value: Any) -> float:
    """A comparison's value as a number; NE and missing are +inf."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if not math.isnan(float(value)) else math.inf
    return math.inf


def simulated_numbers(seed: int) -> dict[str, tuple[Any, float]]:
    """id -> (published, computed as a number) for one protocol-model cohort."""
    from eap.report.reproduce import reproduce_sdtm
    from eap.simulate.model_cohort import simulate_model

    comparisons = reproduce_sdtm(simulate_model(seed, 1), CUTOFF)
    return {c.id: (c.published, _number(c.computed)) for c in comparisons}


def coverage(seeds: Iterable[int], progress: Callable[[int], None] | None = None) -> pl.DataFrame:
    """One row per published number: its value, the simulated 2.5/50/97.5 percentiles
    and whether it is covered."""
    runs = []
    for k, seed in enumerate(seeds, start=1):
        runs.append(simulated_numbers(seed))
        if progress:
            progress(k)
    return coverage_table(runs)


def _quantile(values: np.ndarray, q: float) -> float:
    """Type 7 quantile (R's default) where +inf (not estimable) sorts above every number:
    a quantile that interpolates towards +inf, however little, is +inf."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    h = (len(ordered) - 1) * q
    below = math.floor(h)
    fraction = h - below
    if fraction == 0.0:
        return float(ordered[below])
    lower, upper = float(ordered[below]), float(ordered[below + 1])
    if math.isinf(upper):
        return math.inf
    return lower + fraction * (upper - lower)


def coverage_table(runs: list[dict[str, tuple[Any, float]]]) -> pl.DataFrame:
    rows = []
    for cid, (pub, _) in runs[0].items():
        values = np.asarray([r[cid][1] for r in runs if cid in r], dtype=np.float64)
        lo, mid, hi = (_quantile(values, q) for q in (0.025, 0.5, 0.975))
        target = _number(pub)
        covered = bool(np.isinf(hi)) if math.isinf(target) else lo <= target <= hi
        rows.append((cid, str(pub), lo, mid, hi, covered))
    return pl.DataFrame(
        rows,
        schema={
            "id": pl.String,
            "published": pl.String,
            "p2_5": pl.Float64,
            "median": pl.Float64,
            "p97_5": pl.Float64,
            "covered": pl.Boolean,
        },
        orient="row",
    )


def markdown(table: pl.DataFrame, seeds: int) -> str:
    """The coverage table as Markdown (NE shown for +inf)."""

    def show(x: float) -> str:
        return "NE" if math.isinf(x) else f"{x:g}"

    covered = table["covered"].sum()
    lines = [
        f"{covered} of {table.height} published numbers "
        f"({100 * covered / table.height:.1f}%) lie within the central 95% of {seeds} "
        "protocol-model cohorts.",
        "",
        "| number | published | 2.5% | median | 97.5% | covered |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.iter_rows(named=True):
        lines.append(
            f"| {r['id']} | {r['published']} | {show(r['p2_5'])} | {show(r['median'])} | "
            f"{show(r['p97_5'])} | {'yes' if r['covered'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"
