"""Kinds ``tte`` and ``km_figure``: Kaplan-Meier, log-rank and Cox per time-to-event parameter.

Fields: ``dataset`` (default ADTTE), ``paramcd`` (a list: one block per parameter,
``group2 = "PARAMCD"``), ``where``, ``time`` (AVAL) and ``censor`` (CNSR: 1 censored),
``conf_type`` (log-log, SAS LIFETEST's default; R's survfit default is log),
``conf_level``, ``convention`` (R or SAS: how quantiles and landmarks are read off
the curve, see docs/statistics.md), ``quantiles`` (0.25, 0.5, 0.75), ``landmarks``
(times in AVAL's unit), ``logrank`` (test across the arm columns, and each arm
against ``reference``), ``strata`` (a variable: stratified log-rank and Cox),
``cox_ties`` (``["efron"]`` as R coxph, ``["breslow"]`` as SAS PHREG, or both; empty:
no Cox model), ``risk_times`` (numbers at risk for the figure, and its x-axis breaks;
without them every ``km_figure`` of the plan shares one axis, see :func:`study_km_breaks`),
``time_label``, ``time_unit`` (the figure's legend: "median 33.9 (24.1–NE) months").

Rows follow cardx: quantiles as ``variable = "prob"``, ``variable_level = "0.5"``
with ``estimate``, ``conf.low``, ``conf.high``; landmarks as ``variable = "time"``
with ``estimate``, ``std.error``, ``conf.low``, ``conf.high``, ``n.risk``; counts as
``variable = "time_to_event"`` with ``n``, ``events``, ``censored``; the log-rank
test as ``variable = "logrank"`` (or ``"logrank_vs_<reference>"`` per arm) with
``statistic``, ``df``, ``p.value``; Cox as ``variable = "cox_<ties>"`` per arm with
``estimate`` (the hazard ratio), ``conf.low``, ``conf.high``, ``p.value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from eap.ard.cards import Cell, Rows
from eap.ard.columns import Column, dataset_columns
from eap.ard.source import largest, records, tables_for
from eap.datasets.model import Dataset
from eap.engine.frames import Tables
from eap.errors import EapError, PlanError
from eap.plans.plan import Output
from eap.stats import kaplan_meier, logrank_test

FIELDS = (
    "paramcd",
    "where",
    "time",
    "censor",
    "conf_type",
    "conf_level",
    "convention",
    "quantiles",
    "landmarks",
    "logrank",
    "reference",
    "strata",
    "cox_ties",
    "risk_times",
    "time_label",
    "time_unit",
    "x_max",
    "labels",
    "figure",
    "compact",  # the table: one line per parameter, its median (eap.report.layout)
)


def _numbers(output: Output, key: str, default: tuple[float, ...]) -> tuple[float, ...]:
    f = output.fields
    value = f.data.get(key, list(default))
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise PlanError(
            "expected a list of numbers",
            file=f.file,
            variable=f"{f.prefix}.{key}",
            found=repr(value),
        )
    return tuple(float(v) for v in value)


def _fit(frame: pl.DataFrame, output: Output) -> Any:
    f = output.fields
    time, censor = f.text("time", "AVAL"), f.text("censor", "CNSR")
    return kaplan_meier(
        frame[time].cast(pl.Float64).to_numpy(),
        1 - frame[censor].cast(pl.Int64).to_numpy(),
        conf_type=f.text("conf_type", "log-log"),
        conf_level=f.number("conf_level", 0.95),
        convention=f.text("convention", "R"),
    ).curves[0]


def study_km_breaks(
    outputs: list[Output], adam: Mapping[str, Dataset], tables: Tables | None = None
) -> tuple[float, ...]:
    """One x-axis for every Kaplan-Meier figure of a study that does not set ``risk_times``.

    The axis runs from 0 to the longest follow-up time of any of these figures, rounded
    up to a break; breaks every 6 units up to 60, every 12 beyond (months: a break every
    half year, or every year for long follow-up). The same range for PFS, OS, TTP and DOR
    lets a reader compare the curves across figures.
    """
    longest = 0.0
    for output in outputs:
        f = output.fields
        name = output.dataset or "ADTTE"
        if name not in adam or "risk_times" in f.data:
            continue
        time = f.text("time", "AVAL")
        names = dataset_columns(adam, name, output)
        if time not in names or "PARAMCD" not in names:
            continue
        top = largest(
            tables_for(adam, tables),
            name,
            time,
            where=f.optional_text("where"),
            also=nw.col("PARAMCD").is_in(list(f.texts("paramcd"))),
            file=f.file,
        )
        if isinstance(top, float):
            longest = max(longest, top)
    step = 6.0 if longest <= 60 else 12.0
    last = max(step, step * float(np.ceil(longest / step)))
    return tuple(float(t) for t in np.arange(0.0, last + step / 2, step))


def _curve_rows(
    rows: Rows, cell: Cell, curve: Any, output: Output, breaks: tuple[float, ...]
) -> None:
    """Every step of the curve, censorings and numbers at risk (for the figure)."""
    curve_cell = cell.at(variable="curve", context="survival_curve")
    rows.add(curve_cell.at(variable_level="0"), "estimate", 1.0, fmt="xx.xxx")
    for t, s, c in zip(curve.time, curve.survival, curve.n_censor, strict=True):
        at = curve_cell.at(variable_level=f"{t:.6g}")
        rows.add(at, "estimate", float(s), fmt="xx.xxx")
        if c:
            rows.add(at, "n.censor", float(c), fmt="xx")
    times = _numbers(output, "risk_times", breaks)
    if times:
        risk = cell.at(variable="n.risk", context="survival_curve")
        for t, n in zip(times, curve.n_risk_at(list(times)), strict=True):
            rows.add(risk.at(variable_level=f"{t:g}"), "n.risk", float(n), fmt="xx")


def _km(
    rows: Rows,
    cell: Cell,
    frame: pl.DataFrame,
    output: Output,
    figure: bool,
    breaks: tuple[float, ...] = (),
) -> None:
    counts = cell.at(variable="time_to_event", context="survival")
    if frame.height == 0:
        for stat in ("n", "events", "censored"):
            rows.add(counts, stat, 0, fmt="xx")
        if figure:
            risk = cell.at(variable="n.risk", context="survival_curve")
            for t in _numbers(output, "risk_times", breaks):
                rows.add(risk.at(variable_level=f"{t:g}"), "n.risk", 0.0, fmt="xx")
        return
    curve = _fit(frame, output)
    rows.add(counts, "n", curve.n, fmt="xx", subjects=frame["USUBJID"])
    rows.add(counts, "events", curve.events, fmt="xx")
    rows.add(counts, "censored", curve.censored, fmt="xx")
    for q in curve.quantiles(_numbers(output, "quantiles", (0.25, 0.5, 0.75))):
        at = cell.at(variable="prob", variable_level=f"{q.prob:g}", context="survival")
        rows.add(at, "estimate", q.estimate, warning=q.estimate_reason)
        rows.add(at, "conf.low", q.lower, warning=q.lower_reason)
        rows.add(at, "conf.high", q.upper, warning=q.upper_reason)
    for s in curve.survival_at(list(_numbers(output, "landmarks", ()))):
        at = cell.at(variable="time", variable_level=f"{s.time:g}", context="survival")
        rows.add(at, "estimate", s.survival, fmt="xx.xxx", warning=s.reason)
        rows.add(at, "std.error", s.std_err, fmt="xx.xxx", warning=s.reason)
        rows.add(at, "conf.low", s.lower, fmt="xx.xxx", warning=s.reason)
        rows.add(at, "conf.high", s.upper, fmt="xx.xxx", warning=s.reason)
        rows.add(at, "n.risk", s.n_risk, fmt="xx")
    if figure:
        _curve_rows(rows, cell, curve, output, breaks)


def _tests(rows: Rows, output: Output, arms: list[Column], frame: pl.DataFrame, param: str) -> None:
    """Log-rank across the arms and each arm against the reference; Cox hazard ratios."""
    f = output.fields
    group = arms[0].group
    assert group is not None
    time, censor = f.text("time", "AVAL"), f.text("censor", "CNSR")
    labelled = pl.concat(
        [
            frame.join(c.adsl.select("USUBJID"), on="USUBJID", how="semi").with_columns(
                pl.lit(c.level).alias("_ARM")
            )
            for c in arms
        ]
    )
    strata_var = f.optional_text("strata")
    if strata_var is not None and strata_var not in labelled.columns:
        raise PlanError(
            f"strata variable {strata_var} is not in the data",
            file=f.file,
            variable=f"{f.prefix}.strata",
            found=strata_var,
        )
    levels = [c.level for c in arms if c.level is not None]
    reference = f.choice("reference", levels, levels[0])
    base = Cell(output.id, arms[0].population, group2="PARAMCD", group2_level=param)

    def test(data: pl.DataFrame, cell: Cell) -> None:
        arm = data["_ARM"].to_numpy()
        if np.unique(arm).size < 2:
            for stat in ("statistic", "df", "p.value"):
                rows.add(cell, stat, None, warning="fewer than two arms with subjects")
            return
        result = logrank_test(
            data[time].cast(pl.Float64).to_numpy(),
            1 - data[censor].cast(pl.Int64).to_numpy(),
            arm,
            strata=None if strata_var is None else data[strata_var].to_numpy(),
            strata_name=strata_var,
        )
        rows.add(cell, "statistic", result.chisq, fmt="xx.xx")
        rows.add(cell, "df", result.df, fmt="xx")
        rows.add(cell, "p.value", result.p, fmt="x.xxxx")

    if f.flag("logrank", True):
        test(labelled, base.at(variable="logrank", context="survdiff"))
        for level in levels:
            if level == reference:
                continue
            pair = labelled.filter(pl.col("_ARM").is_in([reference, level]))
            cell = base.at(
                group1=group,
                group1_level=level,
                variable=f"logrank_vs_{reference}",
                context="survdiff",
            )
            test(pair, cell)
    ties_list = f.texts("cox_ties", ())
    if ties_list:
        from eap.stats.cox import cox_ph

        for ties in ties_list:
            try:
                fit = cox_ph(
                    labelled[time].cast(pl.Float64).to_numpy(),
                    1 - labelled[censor].cast(pl.Int64).to_numpy(),
                    labelled["_ARM"].to_numpy().astype(str),
                    reference=reference,
                    strata=None if strata_var is None else labelled[strata_var].to_numpy(),
                    ties=ties,
                    conf_level=f.number("conf_level", 0.95),
                )
            except EapError as exc:
                for level in levels:
                    if level != reference:
                        cell = base.at(group1=group, group1_level=level, variable=f"cox_{ties}").at(
                            context="coxph"
                        )
                        rows.add(cell, "estimate", None, warning=str(exc))
                continue
            by_level = {term.level: term for term in fit.terms}
            for term in (by_level[level] for level in levels if level in by_level):
                cell = base.at(
                    group1=group, group1_level=term.level, variable=f"cox_{ties}", context="coxph"
                )
                rows.add(cell, "estimate", term.hazard_ratio, fmt="xx.xx", warning=fit.warning)
                rows.add(cell, "conf.low", term.conf_low, fmt="xx.xx")
                rows.add(cell, "conf.high", term.conf_high, fmt="xx.xx")
                rows.add(cell, "p.value", term.p_value, fmt="x.xxxx")


def time_to_event(
    output: Output,
    columns: list[Column],
    adam: Mapping[str, Dataset],
    figure: bool = False,
    breaks: tuple[float, ...] = (),
    tables: Tables | None = None,
) -> Rows:
    """ARD rows of a time-to-event output (every parameter, every column, the tests).

    ``breaks``: the figure's numbers-at-risk times when the plan sets no ``risk_times``;
    ``tables``: the engine the records are read on (by default Polars).
    """
    f = output.fields
    source = output.dataset or "ADTTE"
    names = dataset_columns(adam, source, output)
    time, censor = f.text("time", "AVAL"), f.text("censor", "CNSR")
    for name in (time, censor, "PARAMCD"):
        if name not in names:
            raise PlanError(
                f"{name} is not in the data",
                file=f.file,
                variable=f"{f.prefix}.time" if name == time else f"{f.prefix}.censor",
                found=name,
            )
    params = f.texts("paramcd")
    text = f.optional_text("where")
    field = f"{f.prefix}.where"
    strata = f.optional_text("strata")
    # A subject's time, censoring and stratum (the filter is applied as they are read).
    wanted = {"USUBJID", "PARAMCD", time, censor, *([strata] if strata else [])}
    data = records(
        tables_for(adam, tables),
        source,
        wanted,
        where=text,
        also=nw.col("PARAMCD").is_in(list(params)),
        file=f.file,
        field=field,
    )
    rows = Rows()
    for column in columns:
        rows.add(
            column.cell(output.id, variable="BIGN", context="total_n"), "N", column.n, fmt="xx"
        )
    for param in params:
        mine = data.filter(pl.col("PARAMCD") == param).filter(
            pl.col(time).is_not_null() & pl.col(censor).is_not_null()
        )
        for column in columns:
            cell = column.cell(output.id, group2="PARAMCD", group2_level=param)
            _km(rows, cell, column.records(mine), output, figure, breaks)
        by_population: dict[str, list[Column]] = {}
        for column in columns:
            if column.level is not None:
                by_population.setdefault(column.population, []).append(column)
        for arms in by_population.values():
            if len(arms) >= 2:
                _tests(rows, output, arms, mine, param)
    return rows
