"""Kind ``forest``: an effect by subgroup, for a forest plot.

Fields: ``measure`` (``response``: the proportion of responders with its exact
Clopper-Pearson CI; ``hazard_ratio``: each arm against ``reference`` from a Cox model
fitted within the subgroup level), ``endpoint`` (response: ``{ dataset, where, label }``,
the records whose subjects respond, e.g. ADRS ``PARAMCD == 'RSP' and AVALC == 'Y'``;
hazard ratio: ``{ dataset, paramcd, time, censor, label }`` of a time-to-event
dataset), ``subgroups`` (``{ name, label, levels, labels }``: an ADSL variable, its row
label, its levels in display order and their labels; without ``levels`` the values in
the data, sorted), ``reference`` (hazard ratio: the reference arm, default the first),
``ties`` (``efron`` as R coxph, or ``breslow`` as SAS PHREG), ``conf_level``. The Cox
model of a level has every arm as a covariate level (as the ``tte`` output's model), so
the whole column's ratios equal that output's.

Rows (context ``forest``): the whole column first (``group2`` null), then each subgroup
level (``group2`` the variable, ``group2_level`` the level). Response: ``variable =
"response"`` with ``n`` (responders), ``N`` (subjects), ``estimate`` (n / N),
``conf.low``, ``conf.high``. Hazard ratio: ``variable = "cox_<ties>"`` per arm
(``group1_level``) with ``N`` (subjects of the arm and the reference), ``events``,
``estimate``, ``conf.low``, ``conf.high``, ``p.value``. A level without subjects, or
where the model cannot be fitted (no event in an arm), has a null estimate and the
reason as its warning.
"""

from __future__ import annotations

from collections.abc import Mapping

import narwhals as nw
import polars as pl

from eap.ard.cards import Cell, Rows
from eap.ard.columns import Column, dataset_columns
from eap.ard.source import records, tables_for
from eap.datasets.model import Dataset
from eap.engine.frames import Tables
from eap.errors import EapError, PlanError
from eap.plans.plan import Output
from eap.plans.study import Fields
from eap.stats.proportions import clopper_pearson

FIELDS = ("measure", "endpoint", "subgroups", "reference", "ties", "conf_level", "time_label")
MEASURES = ("response", "hazard_ratio")


def subgroup_levels(adsl: pl.DataFrame, spec: Fields) -> list[str]:
    """The levels of one subgroup: the plan's, else the values in ADSL, sorted."""
    name = spec.text("name")
    if name not in adsl.columns:
        raise PlanError(
            f"subgroup variable {name} is not in ADSL",
            file=spec.file,
            variable=f"{spec.prefix}.name",
            found=name,
        )
    if "levels" in spec.data:
        return list(spec.texts("levels"))
    values = adsl[name].drop_nulls().cast(pl.String).unique().to_list()
    return sorted(str(v) for v in values)


def _in_level(adsl: pl.DataFrame, name: str | None, level: str | None) -> pl.DataFrame:
    """The subjects of one subgroup level (all of them for the whole column)."""
    if name is None:
        return adsl
    return adsl.filter(pl.col(name).cast(pl.String) == level)


def _groups(output: Output, adsl: pl.DataFrame) -> list[tuple[str | None, str | None]]:
    """(variable, level) pairs: the whole column first, then every subgroup level."""
    out: list[tuple[str | None, str | None]] = [(None, None)]
    for spec in output.fields.tables("subgroups"):
        spec.unknown(("name", "label", "levels", "labels"))
        out.extend((spec.text("name"), level) for level in subgroup_levels(adsl, spec))
    return out


def _response(
    rows: Rows, output: Output, columns: list[Column], adam: Mapping[str, Dataset], tables: Tables
) -> None:
    f = output.fields
    spec = f.table("endpoint")
    spec.unknown(("dataset", "where", "label"))
    source = spec.text("dataset", "ADRS")
    text = spec.text("where")
    field = f"{spec.prefix}.where"
    dataset_columns(adam, source, output)  # present, or the output's error
    data = records(tables, source, {"USUBJID"}, where=text, file=f.file, field=field)
    responders = data["USUBJID"].unique().implode()
    conf_level = f.number("conf_level", 0.95)
    for column in columns:
        for name, level in _groups(output, column.adsl):
            subjects = _in_level(column.adsl, name, level)["USUBJID"].sort()
            hits = subjects.filter(subjects.is_in(responders))
            cell = column.cell(
                output.id, group2=name, group2_level=level, variable="response", context="forest"
            )
            rows.add(cell, "n", len(hits), fmt="xx", subjects=hits)
            rows.add(cell, "N", len(subjects), fmt="xx", subjects=subjects)
            if subjects.is_empty():
                for stat in ("estimate", "conf.low", "conf.high"):
                    rows.add(cell, stat, None, fmt="xx.x%", warning="no subjects in the subgroup")
                continue
            ci = clopper_pearson(len(hits), len(subjects), conf_level=conf_level)
            rows.add(cell, "estimate", ci.estimate, fmt="xx.x%")
            rows.add(cell, "conf.low", ci.lower, fmt="xx.x%")
            rows.add(cell, "conf.high", ci.upper, fmt="xx.x%")


def _hazard_ratio(
    rows: Rows, output: Output, columns: list[Column], adam: Mapping[str, Dataset], tables: Tables
) -> None:
    from eap.stats.cox import cox_ph

    f = output.fields
    spec = f.table("endpoint")
    spec.unknown(("dataset", "paramcd", "time", "censor", "label"))
    time, censor = spec.text("time", "AVAL"), spec.text("censor", "CNSR")
    source = spec.text("dataset", "ADTTE")
    dataset_columns(adam, source, output)  # present, or the output's error
    data = records(
        tables,
        source,
        {"USUBJID", time, censor},
        also=nw.col("PARAMCD") == spec.text("paramcd"),
    )
    arms = [c for c in columns if c.level is not None]
    if len(arms) < 2 or len({c.population for c in arms}) != 1:
        raise PlanError(
            "a hazard-ratio forest needs the arms of one population as its columns",
            file=f.file,
            variable=f"{f.prefix}.group",
            expected="group = an arm variable, one population",
            found=f"{len(arms)} arm columns",
        )
    levels = [c.level for c in arms if c.level is not None]
    reference = f.choice("reference", levels, levels[0])
    ties = f.choice("ties", ("efron", "breslow"), "efron")
    conf_level = f.number("conf_level", 0.95)
    adsl = pl.concat([c.adsl.with_columns(pl.lit(c.level).alias("_ARM")) for c in arms])
    # The subgroups are ADSL's: the time-to-event records bring only their times.
    timed = (
        data.select("USUBJID", time, censor)
        .join(adsl, on="USUBJID", how="inner")
        .filter(pl.col(time).is_not_null() & pl.col(censor).is_not_null())
    )
    group = arms[0].group
    for name, level in _groups(output, adsl):
        mine = _in_level(timed, name, level)
        events = 1 - mine[censor].cast(pl.Int64).to_numpy()
        # One model on every arm of the level, as the tte output fits it, so the whole
        # column's hazard ratios are those of the Kaplan-Meier table and figure.
        try:
            fit = cox_ph(
                mine[time].cast(pl.Float64).to_numpy(),
                events,
                mine["_ARM"].to_numpy().astype(str),
                reference=reference,
                ties=ties,
                conf_level=conf_level,
            )
            terms = {t.level: t for t in fit.terms}
            why = fit.warning
        except EapError as exc:
            terms, why = {}, str(exc)
        for arm in levels:
            if arm == reference:
                continue
            pair = mine.filter(pl.col("_ARM").is_in([reference, arm]))
            cell = Cell(
                output.id,
                arms[0].population,
                group1=group,
                group1_level=arm,
                group2=name,
                group2_level=level,
                variable=f"cox_{ties}",
                context="forest",
            )
            pair_events = 1 - pair[censor].cast(pl.Int64).to_numpy()
            rows.add(cell, "N", pair.height, fmt="xx", subjects=pair["USUBJID"].sort())
            rows.add(cell, "events", float(pair_events.sum()), fmt="xx")
            term = terms.get(arm)
            if term is None:
                reason = why or f"no subjects of {arm} or {reference} in the subgroup"
                for stat in ("estimate", "conf.low", "conf.high", "p.value"):
                    rows.add(cell, stat, None, warning=reason)
                continue
            rows.add(cell, "estimate", term.hazard_ratio, fmt="xx.xx", warning=why)
            rows.add(cell, "conf.low", term.conf_low, fmt="xx.xx", warning=why)
            rows.add(cell, "conf.high", term.conf_high, fmt="xx.xx", warning=why)
            rows.add(cell, "p.value", term.p_value, fmt="x.xxxx")


def forest(
    output: Output,
    columns: list[Column],
    adam: Mapping[str, Dataset],
    tables: Tables | None = None,
) -> Rows:
    """ARD rows of a forest output: the effect in each column and each subgroup level
    (the endpoint's records read on the engine of ``tables``; by default Polars)."""
    rows = Rows()
    for column in columns:
        rows.add(
            column.cell(output.id, variable="BIGN", context="total_n"), "N", column.n, fmt="xx"
        )
    if output.fields.choice("measure", MEASURES) == "response":
        _response(rows, output, columns, adam, tables_for(adam, tables))
    else:
        _hazard_ratio(rows, output, columns, adam, tables_for(adam, tables))
    return rows
