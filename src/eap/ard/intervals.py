"""Kind ``intervals``: first onset by interval of time on treatment, and per patient-year.

Fields: ``dataset`` (default ADAE) and ``where`` (the events, e.g. grade 3-4 TEAEs),
``term_variable`` (AEDECOD) and ``terms`` (``"ANY"`` for any event, then terms),
``onset`` (the time of each event on treatment, e.g. ONTRTM in months),
``exposure`` (``{ dataset = "ADEX", paramcd = "TRTDURM" }``: time on treatment in
the same unit), ``intervals`` (starts: ``[0, 6, 12, 24]``; the last is open),
``per_year`` (units of time in a year, 12 for months) and ``rate_per`` (100).

Rows per term and interval (``variable = "ONSET"``, ``group2 = "term"``,
``variable_level = "0-6"``): ``n.risk`` (on treatment and free of the event at the
interval's start), ``n`` (first onsets in it), ``p`` (n / n.risk). Per term
(``variable = "EAIR"``): ``events`` (subjects with a first onset), ``time_at_risk``
(patient-years to first onset or end of treatment), ``estimate`` (events per
``rate_per`` patient-years), ``conf.low``, ``conf.high`` (exact Poisson 95%;
eap.stats.exposure_adjusted_incidence_rate).
"""

from __future__ import annotations

from collections.abc import Mapping

import narwhals as nw
import numpy as np
import polars as pl

from eap.ard.cards import Rows
from eap.ard.columns import Column, dataset_columns
from eap.ard.source import first_per_subject, records, tables_for
from eap.datasets.model import Dataset
from eap.derive.common import need_column
from eap.engine.frames import Tables
from eap.plans.plan import Output
from eap.stats import exposure_adjusted_incidence_rate, incidence_by_interval, time_at_risk

FIELDS = (
    "where",
    "term_variable",
    "terms",
    "term_labels",
    "onset",
    "exposure",
    "intervals",
    "per_year",
    "rate_per",
    "interval_unit",
    "figure",
)


def _label(start: float, end: float | None) -> str:
    return f"{start:g}-{'' if end is None else f'{end:g}'}"


def intervals(
    output: Output,
    columns: list[Column],
    adam: Mapping[str, Dataset],
    tables: Tables | None = None,
) -> Rows:
    """ARD rows of an intervals output, for every column (each subject's first onset
    of each term found on the engine of ``tables``; by default Polars)."""
    f = output.fields
    term_variable = f.text("term_variable", "AEDECOD")
    onset = f.text("onset")
    engine = tables_for(adam, tables)
    name = output.dataset or "ADAE"
    text = f.optional_text("where")
    names = dataset_columns(adam, name, output)
    field = f"{f.prefix}.where"
    for key, needed in (("term_variable", term_variable), ("onset", onset)):
        need_column(names, needed, name, file=f.file, field=f"{f.prefix}.{key}")
    # The first onset of each term a subject has; a subject's first of any term is
    # the least of them.
    firsts = first_per_subject(
        engine, name, onset, [term_variable], where=text, file=f.file, field=field
    )
    expo_spec = f.table("exposure")
    expo_spec.unknown(("dataset", "paramcd"))
    adex_name = expo_spec.text("dataset", "ADEX")
    dataset_columns(adam, adex_name, output)  # present, or the output's error
    duration = records(
        engine,
        adex_name,
        {"USUBJID", "AVAL"},
        also=nw.col("PARAMCD") == expo_spec.text("paramcd"),
    ).select("USUBJID", pl.col("AVAL").alias("_EXPO"))
    starts = [float(x) for x in f.data.get("intervals", [0])]
    per_year = f.number("per_year", 12)
    rate_per = f.number("rate_per", 100)
    rows = Rows()
    for column in columns:
        exposure = (
            column.adsl.select("USUBJID")
            .join(duration, on="USUBJID", how="left")
            .with_columns(pl.col("_EXPO").fill_null(0.0))
        )
        mine = column.records(firsts)
        for term in f.texts("terms", ("ANY",)):
            chosen = mine if term == "ANY" else mine.filter(pl.col(term_variable) == term)
            first = chosen.group_by("USUBJID").agg(pl.col(onset).min().alias("_ONSET"))
            data = exposure.join(first, on="USUBJID", how="left").sort("USUBJID")
            when = data["_ONSET"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            expo = data["_EXPO"].cast(pl.Float64).to_numpy()
            for interval in incidence_by_interval(when, expo, tuple(starts)):
                cell = column.cell(
                    output.id,
                    group2="term",
                    group2_level=term,
                    variable="ONSET",
                    variable_level=_label(interval.start, interval.end),
                    context="intervals",
                )
                rows.add(cell, "n.risk", interval.n_at_risk, fmt="xx")
                rows.add(cell, "n", interval.n_onset, fmt="xx")
                p = None if interval.percent is None else interval.percent / 100.0
                rows.add(
                    cell, "p", p, fmt="xx.x%", warning=None if p is not None else "none at risk"
                )
            years = time_at_risk(expo / per_year, when / per_year)
            rate = exposure_adjusted_incidence_rate(
                (~np.isnan(when)).astype(np.int64), years, per=rate_per
            )
            cell = column.cell(
                output.id, group2="term", group2_level=term, variable="EAIR", context="eair"
            )
            rows.add(cell, "events", rate.events, fmt="xx")
            rows.add(cell, "time_at_risk", rate.time_at_risk, fmt="xx.x")
            rows.add(cell, "estimate", rate.rate, fmt="xx.x")
            rows.add(cell, "conf.low", rate.lower, fmt="xx.x")
            rows.add(cell, "conf.high", rate.upper, fmt="xx.x")
    return rows
