"""The columns of an output: each a population, and an arm level or the Total.

An output with ``populations = ["safety", "treatment_cohort"]`` has one column per
population; one with ``population = "itt"``, ``group = "TRT01P"`` and ``total = true``
one per arm level of the study (in its display order) and a Total column. Each
column knows its ADSL subjects, so every analysis counts within it and takes its N
from ADSL (as cards' ``denominator = ADSL``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from eap.ard.cards import Cell
from eap.datasets.model import Dataset
from eap.errors import PlanError
from eap.plans.plan import Output
from eap.plans.study import Study
from eap.stats.frame import parse_where


@dataclass(frozen=True)
class Column:
    """One column of an output and the ADSL rows of its subjects."""

    key: str
    population: str
    group: str | None
    level: str | None
    label: str
    adsl: pl.DataFrame

    @property
    def n(self) -> int:
        return self.adsl.height

    @property
    def ids(self) -> pl.Series:
        return self.adsl["USUBJID"]

    def cell(self, output: str, **where: str | None) -> Cell:
        """The ARD position of a statistic in this column."""
        return Cell(
            output=output,
            population=self.population,
            group1=self.group if self.level is not None else None,
            group1_level=self.level,
        ).at(**where)

    def records(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of an analysis dataset that belong to this column's subjects."""
        return frame.filter(pl.col("USUBJID").is_in(self.ids.implode()))


def parsed_where(
    parse: Callable[[str, list[str]], Any], text: str, names: list[str], file: object, field: str
) -> Any:
    """``parse`` (a Polars or an engine-neutral parser) of a plan filter; its errors
    re-said with the plan's file and field."""
    try:
        return parse(text, names)
    except Exception as exc:  # StatsInputError: re-said with the plan's field
        raise PlanError(
            f"filter cannot be applied: {exc}", file=str(file), variable=field, found=repr(text)
        ) from None


def _parsed(text: str, names: list[str], file: object, field: str) -> pl.Expr:
    expr: pl.Expr = parsed_where(parse_where, text, names, file, field)
    return expr


def where(frame: pl.DataFrame, text: str | None, *, file: object, field: str) -> pl.DataFrame:
    """Rows of ``frame`` where the plan's filter holds; its errors name the plan field."""
    if not text:
        return frame
    return frame.filter(_parsed(text, frame.columns, file, field))


def dataset_columns(adam: Mapping[str, Dataset], name: str, output: Output) -> list[str]:
    """The variables of an analysis dataset the output needs, from its header."""
    from eap.datasets.lazy import columns

    _require(adam, name, output)
    return columns(adam, name)


def population_subjects(study: Study, adsl: pl.DataFrame, name: str) -> pl.DataFrame:
    """ADSL rows of a named population (its filter from the study definition)."""
    population = study.population(name)
    return where(
        adsl,
        population.where,
        file=study.folder / "study.toml",
        field=f"populations.{name}.where",
    )


def columns(output: Output, study: Study, adam: Mapping[str, Dataset]) -> list[Column]:
    """The output's columns in display order: populations, then arm levels, then Total."""
    if "ADSL" not in adam:
        raise PlanError("ADSL is needed for every output", dataset="ADSL", variable=output.id)
    adsl = adam["ADSL"].frame
    out: list[Column] = []
    for population in output.populations:
        subjects = population_subjects(study, adsl, population)
        label = study.population(population).label
        if output.group is None:
            out.append(Column(f"c{len(out)}", population, None, None, label, subjects))
            continue
        if output.group not in adsl.columns:
            raise PlanError(
                "the grouping variable is not in ADSL",
                file=output.fields.file,
                variable=f"{output.fields.prefix}.group",
                expected="an ADSL variable such as " + study.arms.actual,
                found=output.group,
            )
        levels = [a.value for a in study.arms.levels]
        seen = subjects[output.group].drop_nulls().unique().sort().to_list()
        levels += [v for v in seen if v not in levels]
        for level in levels:
            mine = subjects.filter(pl.col(output.group) == level)
            out.append(
                Column(
                    f"c{len(out)}", population, output.group, level, study.arms.label(level), mine
                )
            )
        if output.total:
            out.append(
                Column(
                    f"c{len(out)}", population, output.group, None, study.arms.total_label, subjects
                )
            )
    return out


def _require(adam: Mapping[str, Dataset], name: str, output: Output) -> None:
    if name not in adam:
        raise PlanError(
            f"output {output.id} needs dataset {name}",
            file=output.fields.file,
            variable=f"{output.fields.prefix}.dataset",
            expected="one of " + ", ".join(sorted(adam)),
            found=name,
        )
