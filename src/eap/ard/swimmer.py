"""Kind ``swimmer``: each subject's time on treatment and the times of their events.

Fields: ``duration`` (``{ dataset = "ADEX", paramcd = "TRTDURM" }``: the bar's
length), ``ongoing`` (an ADSL filter: an arrow for subjects still on treatment),
``events`` (markers: ``{ name, label, dataset, where, time }``, the time in the
duration's unit), ``responses`` (response markers: ``{ dataset, paramcd, categories,
labels, origin }``, by default ADRS ``OVR`` records, the categories marked (MM-024: PR,
VGPR, CR) each at the first date the subject had it, in months of the study's month
length from the ADSL date ``origin`` (TRTSDT), day ``origin`` counting as day 1 as
ONTRTM does), ``max_subjects`` (the figure shows the longest courses; 60) and
``time_label``. Rows per subject (``group2 = "USUBJID"``): ``duration`` and
``ongoing`` (1/0) as ``stat_name = "value"``, each event as ``variable = "event"``,
``variable_level`` its name, ``stat_name = "time"``; each response marker as
``variable = "response"``, ``variable_level`` its category, ``stat_name = "time"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import narwhals as nw
import polars as pl

from eap.ard.cards import Rows, block
from eap.ard.columns import Column, dataset_columns, where
from eap.ard.source import first_per_subject, records, tables_for
from eap.datasets.model import Dataset
from eap.engine.frames import Tables
from eap.errors import PlanError
from eap.plans.plan import Output

FIELDS = ("duration", "ongoing", "events", "responses", "max_subjects", "time_label")


def first_responses(
    output: Output,
    adam: Mapping[str, Dataset],
    adsl: pl.DataFrame,
    month_days: float,
    tables: Tables | None = None,
) -> pl.DataFrame:
    """USUBJID, category, time: the first date each subject reached each marked category."""
    f = output.fields
    spec = f.table("responses")
    spec.unknown(("dataset", "paramcd", "categories", "labels", "origin"))
    source = spec.text("dataset", "ADRS")
    dataset_columns(adam, source, output)  # present, or the output's error
    origin = spec.text("origin", "TRTSDT")
    if origin not in adsl.columns:
        raise PlanError(
            f"{origin} is not in ADSL",
            file=f.file,
            variable=f"{spec.prefix}.origin",
            expected="an ADSL date the marker times count from",
            found=origin,
        )
    categories = list(spec.texts("categories"))
    marked = (nw.col("PARAMCD") == spec.text("paramcd", "OVR")) & nw.col("AVALC").is_in(categories)
    # Reduced on the engine: ADRS has tens of records a subject.
    first = first_per_subject(tables_for(adam, tables), source, "ADT", ["AVALC"], also=marked)
    first = first.join(adsl.select("USUBJID", origin), on="USUBJID", how="inner")
    days = (pl.col("ADT") - pl.col(origin)).dt.total_days() + 1
    return first.select(
        "USUBJID",
        pl.col("AVALC").alias("category"),
        (days / month_days).alias("time"),
    ).sort("USUBJID", "time", "category")


def swimmer(
    output: Output,
    columns: list[Column],
    adam: Mapping[str, Dataset],
    month_days: float = 365.25 / 12,
    tables: Tables | None = None,
) -> Rows:
    """ARD rows of a swimmer output: bars and markers per subject of every column, built
    by Polars a kind of row at a time (a million subjects give three million rows)."""
    f = output.fields
    spec = f.table("duration")
    spec.unknown(("dataset", "paramcd"))
    source = spec.text("dataset", "ADEX")
    dataset_columns(adam, source, output)  # present, or the output's error
    engine = tables_for(adam, tables)
    durations = records(
        engine, source, {"USUBJID", "AVAL"}, also=nw.col("PARAMCD") == spec.text("paramcd")
    )
    markers = []
    for entry in f.tables("events"):
        entry.unknown(("name", "label", "dataset", "where", "time"))
        name, text, time = entry.text("dataset"), entry.optional_text("where"), entry.text("time")
        field = f"{entry.prefix}.where"
        dataset_columns(adam, name, output)  # present, or the output's error
        data = records(engine, name, {"USUBJID", time}, where=text, file=f.file, field=field)
        markers.append((entry.text("name"), data.select("USUBJID", pl.col(time))))
    rows = Rows()
    usubjid = pl.col("USUBJID")
    one = pl.concat_list("USUBJID")  # each row's subject
    for column in columns:
        ongoing = (
            where(
                column.adsl, f.optional_text("ongoing"), file=f.file, field=f"{f.prefix}.ongoing"
            )["USUBJID"]
            if f.optional_text("ongoing")
            else pl.Series([], dtype=pl.String)
        )
        mine = column.adsl.select("USUBJID").join(durations, on="USUBJID", how="inner")
        mine = mine.sort("USUBJID").with_row_index("_I")
        base = column.cell(output.id, group2="USUBJID", context="swimmer")
        # Each subject's duration, then whether ongoing: the two blocks interleaved.
        bars = block(
            base.at(variable="duration"),
            mine,
            "value",
            pl.col("AVAL"),
            subjects=one,
            group2_level=usubjid,
        ).with_columns(_I=mine["_I"], _K=pl.lit(0))
        still = block(
            base.at(variable="ongoing"),
            mine,
            "value",
            usubjid.is_in(ongoing.implode()),
            fmt="xx",
            group2_level=usubjid,
        ).with_columns(_I=mine["_I"], _K=pl.lit(1))
        rows.add_block(pl.concat([bars, still]).sort("_I", "_K").drop("_I", "_K"))
        for name, data in markers:
            hits = data.join(mine.select("USUBJID"), on="USUBJID", how="semi")
            hits = hits.sort(hits.columns)
            cell = base.at(variable="event", variable_level=name)
            moment = pl.col(hits.columns[1])
            rows.add_block(block(cell, hits, "time", moment, subjects=one, group2_level=usubjid))
        if "responses" in f.data:
            hits = first_responses(output, adam, column.adsl, month_days, engine).join(
                mine.select("USUBJID"), on="USUBJID", how="semi"
            )
            rows.add_block(
                block(
                    base.at(variable="response"),
                    hits,
                    "time",
                    pl.col("time"),
                    subjects=one,
                    group2_level=usubjid,
                    variable_level=pl.col("category"),
                )
            )
    return rows
