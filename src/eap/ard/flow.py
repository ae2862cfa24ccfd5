"""Kinds ``flow`` and ``comparison``: displays assembled from other outputs' results.

``flow`` (a disposition diagram): ``values`` name ARD statistics of earlier outputs
(``n_safety = { output = "DMT01", population = "safety", variable = "BIGN", stat =
"N" }``) or constants (``parent = { value = 199, source = "published" }``);
``boxes`` place text at (x, y) in the unit square, each ``{name}`` in it filled with
that value;
``arrows`` join points. ``comparison``: ``columns`` are external results (other
studies, as published) and ``rows`` give each row's label, its external values
and the ARD statistic of this study (``ref``), with ``scale`` (100 shows a
proportion as a percent).

Both copy the statistics they show into their own ARD rows (context
``reference``), so the display is laid out from its own rows like any other.
"""

from __future__ import annotations

import polars as pl

from eap.ard.cards import Cell, Rows
from eap.errors import PlanError
from eap.plans.plan import Output
from eap.plans.study import Fields

FLOW_FIELDS = ("values", "boxes", "arrows")
COMPARISON_FIELDS = ("columns", "rows", "digits")
REF_FIELDS = ("output", "population", "group1_level", "group2_level", "variable", "level", "stat")


def lookup(ard: pl.DataFrame, ref: Fields) -> float | None:
    """The ARD statistic a reference names (one row), or a PlanError saying why not."""
    ref.unknown((*REF_FIELDS, "value", "source", "scale"))
    checks: dict[str, str] = {
        "output": ref.text("output"),
        "variable": ref.text("variable"),
        "stat_name": ref.text("stat", "n"),
    }
    condition = pl.lit(True)
    for column, value in checks.items():
        condition = condition & (pl.col(column) == value)
    for column, key in (
        ("population", "population"),
        ("variable_level", "level"),
        ("group1_level", "group1_level"),
        ("group2_level", "group2_level"),
    ):
        given = ref.data.get(key)
        condition = condition & (
            pl.col(column).is_null() if given is None else pl.col(column) == str(given)
        )
    hit = ard.filter(condition)
    if hit.height != 1:
        raise PlanError(
            f"the reference matches {hit.height} ARD rows",
            file=ref.file,
            variable=ref.prefix,
            expected="exactly one row (give population, level, group levels)",
            found=str(dict(ref.data)),
        )
    value = hit["stat"][0]
    return None if value is None else float(value)


def flow(output: Output, ard: pl.DataFrame) -> Rows:
    """One ARD row per named value of the diagram."""
    f = output.fields
    rows = Rows()
    values = f.table("values")
    for name in values.data:
        ref = values.table(name)
        cell = Cell(output.id, output.populations[0], variable=name, context="reference")
        if "value" in ref.data:
            number = ref.data["value"]
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise PlanError(
                    "a constant must be a number",
                    file=f.file,
                    variable=ref.prefix,
                    found=repr(number),
                )
            rows.add(cell, "n", float(number), fmt="xx", label=ref.text("source", "constant"))
        else:
            rows.add(cell, "n", lookup(ard, ref), fmt="xx")
    return rows


def comparison(output: Output, ard: pl.DataFrame) -> Rows:
    """ARD rows of a comparison: external values as text, this study's as numbers."""
    f = output.fields
    external = f.texts("columns")
    rows = Rows()
    for i, entry in enumerate(f.tables("rows")):
        entry.unknown(("label", "external", "ref"))
        label = entry.text("label")
        given = entry.data.get("external", [])
        if not isinstance(given, list) or len(given) != len(external):
            raise PlanError(
                "one external value per column",
                file=f.file,
                variable=f"{entry.prefix}.external",
                expected=f"{len(external)} values ({', '.join(external)})",
                found=repr(given),
            )
        for name, value in zip(external, given, strict=True):
            cell = Cell(
                output.id,
                output.populations[0],
                group1="study",
                group1_level=name,
                variable=f"row{i}",
                variable_level=label,
                context="external",
            )
            text = "-" if value is None or value == "" else str(value)
            rows.add(cell, "value", None, text=text, label="as published")
        ref = entry.table("ref")
        value = lookup(ard, ref)
        scale = ref.number("scale", 1.0)
        cell = Cell(
            output.id,
            output.populations[0],
            variable=f"row{i}",
            variable_level=label,
            context="reference",
        )
        rows.add(cell, "value", None if value is None else value * scale)
    return rows
