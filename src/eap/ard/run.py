"""Run an analysis plan: every output's ARD rows, in plan order, and their metadata.

``run_plan`` is the one entry point: each output of the plan is analysed by its
kind's module over its columns (populations x arm levels x Total). An output whose
datasets are absent is skipped with the reason (the report says so); flow and
comparison outputs run last, as they show statistics of the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from eap.ard import flow, forest, incidence, intervals, listing, summary, swimmer, tte
from eap.ard.cards import Rows, empty_ard
from eap.ard.columns import columns as output_columns
from eap.ard.source import records
from eap.ard.summary import NOT_IN_DATA
from eap.datasets.lazy import header, replaced
from eap.datasets.model import Dataset
from eap.engine.frames import Tables
from eap.errors import PlanError
from eap.plans.plan import COMMON, Output, Plan

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "summary": ("variables", "merge", "figure"),
    "exposure": ("variables", "merge", "figure"),
    "disposition": ("variables", "merge", "figure"),
    "incidence": incidence.FIELDS,
    "tte": tte.FIELDS,
    "km_figure": tte.FIELDS,
    "listing": listing.FIELDS,
    "intervals": intervals.FIELDS,
    "swimmer": swimmer.FIELDS,
    "forest": forest.FIELDS,
    "flow": flow.FLOW_FIELDS,
    "comparison": flow.COMPARISON_FIELDS,
}
DEFAULT_DATASET = {
    "summary": "ADSL",
    "disposition": "ADSL",
    "exposure": "ADEX",
    "incidence": "ADAE",
    "tte": "ADTTE",
    "km_figure": "ADTTE",
    "listing": "ADAE",
    "intervals": "ADAE",
}
LATE = ("flow", "comparison")


@dataclass(frozen=True)
class PlanResult:
    """The ARD of a plan, the outputs skipped (id -> reason) and the analysis metadata."""

    ard: pl.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def datasets_needed(output: Output) -> list[str]:
    """The datasets an output reads (ADSL always)."""
    needed = ["ADSL"]
    if output.kind in DEFAULT_DATASET:
        needed.append(output.dataset or DEFAULT_DATASET[output.kind])
    data = output.fields.data
    for key in ("exposure", "duration"):
        if isinstance(data.get(key), Mapping):
            needed.append(str(data[key].get("dataset", "ADEX")))
    if isinstance(data.get("responses"), Mapping):
        needed.append(str(data["responses"].get("dataset", "ADRS")))
    if output.kind == "forest" and isinstance(data.get("endpoint"), Mapping):
        default = "ADTTE" if data.get("measure") == "hazard_ratio" else "ADRS"
        needed.append(str(data["endpoint"].get("dataset", default)))
    if isinstance(data.get("merge"), str):
        needed.append(data["merge"])
    for event in data.get("events", []) if isinstance(data.get("events"), list) else []:
        if isinstance(event, Mapping) and "dataset" in event:
            needed.append(str(event["dataset"]))
    return list(dict.fromkeys(needed))


def analyse(
    output: Output,
    plan: Plan,
    adam: Mapping[str, Dataset],
    ard: pl.DataFrame,
    km_breaks: tuple[float, ...] = (),
    tables: Tables | None = None,
) -> Rows:
    """One output's ARD rows (``km_breaks``: the study's common Kaplan-Meier axis;
    ``tables``: the engine the records are read on, by default Polars)."""
    output.fields.unknown((*COMMON, *KIND_FIELDS[output.kind]))
    if output.kind == "flow":
        return flow.flow(output, ard)
    if output.kind == "comparison":
        return flow.comparison(output, ard)
    cols = output_columns(output, plan.study, adam)
    kind = output.kind
    if kind in ("summary", "exposure", "disposition"):
        return summary.summarise(output, cols, adam, tables)
    if kind == "incidence":
        return incidence.incidence(output, cols, adam, tables)
    if kind in ("tte", "km_figure"):
        return tte.time_to_event(
            output, cols, adam, figure=kind == "km_figure", breaks=km_breaks, tables=tables
        )
    if kind == "listing":
        return listing.listing(output, cols, adam, adam["ADSL"].frame, tables)
    if kind == "intervals":
        return intervals.intervals(output, cols, adam, tables)
    if kind == "swimmer":
        return swimmer.swimmer(output, cols, adam, plan.study.month_days, tables)
    if kind == "forest":
        return forest.forest(output, cols, adam, tables)
    raise PlanError("unknown analysis kind", variable=output.id, found=kind)  # pragma: no cover


def metadata(plan: Plan, skipped: Mapping[str, str]) -> dict[str, Any]:
    """Analysis metadata in the spirit of CDISC ARS: analyses, sets, groupings, displays."""
    study = plan.study
    return {
        "reportingEvent": plan.title,
        "study": study.id,
        "analysisSets": [
            {"id": p.name, "label": p.label, "condition": {"dataset": "ADSL", "where": p.where}}
            for p in study.populations.values()
        ],
        "groupings": [
            {
                "variable": variable,
                "dataset": "ADSL",
                "groups": [{"value": a.value, "label": a.label} for a in study.arms.levels],
                "total": study.arms.total_label if study.arms.total else None,
            }
            for variable in dict.fromkeys((study.arms.planned, study.arms.actual))
        ],
        "analyses": [
            {
                "id": o.id,
                "method": o.kind,
                "analysisSets": list(o.populations),
                "grouping": o.group,
                "total": o.total,
                "datasets": datasets_needed(o),
                "parameters": {
                    k: v for k, v in o.fields.data.items() if k not in COMMON and k != "figure"
                },
                "skipped": skipped.get(o.id),
            }
            for o in plan.outputs
        ],
        "outputs": [
            {
                "id": o.id,
                "displayTitle": o.title,
                "displaySections": {
                    "Title": [o.title],
                    "Subtitle": [o.subtitle] if o.subtitle else [],
                    "Footnote": list(o.footnotes),
                },
                "analysisIds": [o.id],
            }
            for o in plan.outputs
        ],
    }


def run_plan(
    plan: Plan,
    adam: Mapping[str, Dataset],
    *,
    progress: Callable[[str], None] | None = None,
    tables: Tables | None = None,
) -> PlanResult:
    """Every output of ``plan`` on ``adam`` (ADaM datasets, and SDTM ones such as CM).

    ``tables``: the same datasets on the engine their records are read and reduced
    on (:func:`eap.engine.spark.spark_tables`); by default Polars, on this machine.
    ADSL, a row a subject, is brought to the driver either way: the columns' subjects.
    """
    say = progress or (lambda _what: None)
    if "ADSL" not in adam:
        raise PlanError("ADSL is required to build analysis results", dataset="ADSL")
    if tables is not None:
        adsl = header(adam, "ADSL")
        adam = replaced(adam, {"ADSL": replace(adsl, frame=records(tables, "ADSL"))})
    skipped: dict[str, str] = {}
    built: dict[str, pl.DataFrame] = {}
    km_figure = [o for o in plan.outputs if o.kind == "km_figure"]
    km_breaks = tte.study_km_breaks(km_figure, adam, tables)
    ordered = [o for o in plan.outputs if o.kind not in LATE] + [
        o for o in plan.outputs if o.kind in LATE
    ]
    for output in ordered:
        absent = [name for name in datasets_needed(output) if name not in adam]
        if absent:
            skipped[output.id] = f"no {', '.join(absent)} dataset in the input"
            continue
        say(f"analysis: {output.id}")
        # Chunks put side by side, not copied: the ARD of a large study holds millions
        # of subjects.
        so_far = pl.concat([empty_ard(), *built.values()], rechunk=False)
        try:
            built[output.id] = analyse(output, plan, adam, so_far, km_breaks, tables).frame()
            lacking = built[output.id].filter(pl.col("warning").str.starts_with(NOT_IN_DATA))
            for variable, why in (
                lacking.select("variable", "warning").unique(maintain_order=True).iter_rows()
            ):
                skipped[f"{output.id} {variable}"] = why
        except PlanError as exc:
            if output.kind not in LATE:
                raise
            # A diagram or comparison shows other outputs' results: one of them is absent.
            skipped[output.id] = f"a result it shows is absent ({exc.problem})"
    frames = [built[o.id] for o in plan.outputs if o.id in built]
    ard = pl.concat([empty_ard(), *frames], rechunk=False)
    return PlanResult(ard, skipped, metadata(plan, skipped))
