"""Kind ``swimmer``: each subject's time on treatment and the times of their events.

Fields: ``duration`` (``{ dataset = "ADEX", paramcd = "TRTDURM" }``: the bar's
length), ``ongoing`` (an ADSL filter: an arrow for subjects still on treatment),
``events`` (markers: ``{ name, label, dataset, where, time }``, the time in the
duration's unit), ``max_subjects`` (the figure shows the longest courses; 60) and
``time_label``. Rows per subject (``group2 = "USUBJID"``): ``duration`` and
``ongoing`` (1/0) as ``stat_name = "value"``, each event as ``variable = "event"``,
``variable_level`` its name, ``stat_name = "time"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from eap.ard.cards import Rows
from eap.ard.columns import Column, dataset, where
from eap.datasets.model import Dataset
from eap.plans.plan import Output

FIELDS = ("duration", "ongoing", "events", "max_subjects", "time_label")


def swimmer(output: Output, columns: list[Column], adam: Mapping[str, Dataset]) -> Rows:
    """ARD rows of a swimmer output: bars and markers per subject of every column."""
    f = output.fields
    spec = f.table("duration")
    spec.unknown(("dataset", "paramcd"))
    bds = dataset(adam, spec.text("dataset", "ADEX"), output)
    durations = bds.filter(pl.col("PARAMCD") == spec.text("paramcd")).select("USUBJID", "AVAL")
    markers = []
    for entry in f.tables("events"):
        entry.unknown(("name", "label", "dataset", "where", "time"))
        data = dataset(adam, entry.text("dataset"), output)
        data = where(data, entry.optional_text("where"), file=f.file, field=f"{entry.prefix}.where")
        markers.append((entry.text("name"), data.select("USUBJID", pl.col(entry.text("time")))))
    rows = Rows()
    for column in columns:
        ongoing_ids = set(
            where(
                column.adsl, f.optional_text("ongoing"), file=f.file, field=f"{f.prefix}.ongoing"
            )["USUBJID"].to_list()
            if f.optional_text("ongoing")
            else []
        )
        mine = column.adsl.select("USUBJID").join(durations, on="USUBJID", how="inner")
        for usubjid, length in mine.sort("USUBJID").iter_rows():
            base = column.cell(output.id, group2="USUBJID", group2_level=usubjid, context="swimmer")
            rows.add(base.at(variable="duration"), "value", length, subjects=[usubjid])
            rows.add(base.at(variable="ongoing"), "value", float(usubjid in ongoing_ids), fmt="xx")
        for name, data in markers:
            hits = data.join(mine.select("USUBJID"), on="USUBJID", how="semi")
            for usubjid, time in hits.sort(hits.columns).iter_rows():
                cell = column.cell(
                    output.id,
                    group2="USUBJID",
                    group2_level=usubjid,
                    variable="event",
                    variable_level=name,
                    context="swimmer",
                )
                rows.add(cell, "time", time, subjects=[usubjid])
    return rows
