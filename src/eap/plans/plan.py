"""An analysis plan: the outputs of a report as data (``plan.toml``).

Each ``[[outputs]]`` entry is one display (table, listing or figure):

* ``id``, ``title``, ``subtitle``, ``footnotes``: what the reader sees; a table's
  ``stub`` (its label column's heading) and ``marks`` (row label -> footnote mark);
* ``kind``: the analysis (``summary``, ``incidence``, ``tte``, ``km_figure``,
  ``listing``, ``intervals``, ``swimmer``, ``flow``, ``comparison``; ``exposure`` and
  ``disposition`` are ``summary`` with ADEX parameters or ADSL as their default data);
* ``population`` (one name) or ``populations`` (a list: one column each), from the
  study definition;
* ``group``: an ADSL variable whose study arm levels become columns, and ``total``
  (default: the study's ``arms.total``) for an all-arms column;
* ``dataset`` and the kind's own fields (``variables``, ``where``, ``levels``,
  ``sort``, ``threshold``, ``paramcd``, ...), documented in docs/plans.md.

The kind modules in :mod:`eap.ard` read their own fields and say which are wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eap.errors import PlanError
from eap.plans.study import Fields, Study, load_study, read_toml, study_folder

KINDS = (
    "summary",
    "exposure",
    "disposition",
    "incidence",
    "tte",
    "km_figure",
    "listing",
    "intervals",
    "swimmer",
    "flow",
    "comparison",
)
COMMON = (
    "id",
    "kind",
    "title",
    "subtitle",
    "footnotes",
    "population",
    "populations",
    "group",
    "total",
    "dataset",
    "stub",  # the heading of a table's label column
    "marks",  # row label -> footnote mark
)


@dataclass(frozen=True)
class Output:
    """One display of the plan; ``fields`` holds the kind's own settings."""

    id: str
    kind: str
    title: str
    subtitle: str
    footnotes: tuple[str, ...]
    populations: tuple[str, ...]
    group: str | None
    total: bool
    dataset: str | None
    fields: Fields

    @property
    def is_figure(self) -> bool:
        return self.kind in ("km_figure", "swimmer", "flow") or bool(
            self.fields.data.get("figure", False)
        )


@dataclass(frozen=True)
class Plan:
    """An analysis plan and the study it belongs to."""

    title: str
    file: Path
    study: Study
    outputs: tuple[Output, ...]

    def output(self, output_id: str) -> Output:
        for output in self.outputs:
            if output.id == output_id:
                return output
        raise PlanError(
            "no such output in the plan",
            file=self.file,
            variable="outputs.id",
            expected="one of " + ", ".join(o.id for o in self.outputs),
            found=repr(output_id),
        )


def _output(f: Fields, study: Study, ids: set[str]) -> Output:
    output_id = f.text("id")
    if output_id in ids:
        raise PlanError("duplicate output id", file=f.file, variable=f.prefix, found=output_id)
    kind = f.choice("kind", KINDS)
    if "population" in f.data and "populations" in f.data:
        raise PlanError("give population or populations, not both", file=f.file, variable=f.prefix)
    if "populations" in f.data:
        populations = f.texts("populations")
    elif "population" in f.data:
        populations = (f.text("population"),)
    else:
        populations = tuple(study.populations)[:1]
    for name in populations:
        if name not in study.populations:
            raise PlanError(
                "unknown population",
                file=f.file,
                variable=f"{f.prefix}.population",
                expected="one of " + ", ".join(study.populations),
                found=repr(name),
            )
    group = f.optional_text("group")
    return Output(
        id=output_id,
        kind=kind,
        title=f.text("title"),
        subtitle=str(f.data.get("subtitle", "")),
        footnotes=f.texts("footnotes", ()),
        populations=populations,
        group=group,
        total=f.flag("total", study.arms.total) if group else False,
        dataset=f.optional_text("dataset"),
        fields=f,
    )


def load_plan(name_or_path: str | Path, study: Study | None = None) -> Plan:
    """Read an analysis plan: a built-in study name, a study folder or a ``plan.toml``.

    The study is the one named in ``[plan] study`` (a built-in name or a folder
    relative to the plan), else the ``study.toml`` beside the plan.

    >>> [o.id for o in load_plan("cdisc-pilot").outputs][:2]
    ['T14-2.01', 'T14-5.01']
    """
    path = Path(name_or_path)
    file = path if path.suffix == ".toml" else study_folder(name_or_path) / "plan.toml"
    data = read_toml(file)
    top = Fields(data, file, "")
    top.unknown(("plan", "outputs"))
    head = top.table("plan", {})
    head.unknown(("title", "study"))
    if study is None:
        named = head.optional_text("study")
        if named is None:
            study = load_study(file.parent)
        else:
            relative = file.parent / named
            study = load_study(relative if relative.exists() else named)
    outputs: list[Output] = []
    ids: set[str] = set()
    for entry in top.tables("outputs"):
        output = _output(entry, study, ids)
        ids.add(output.id)
        outputs.append(output)
    if not outputs:
        raise PlanError("the plan has no outputs", file=file, variable="outputs")
    return Plan(head.text("title", study.title), file, study, tuple(outputs))


def fields_of(data: Mapping[str, Any], file: Path, prefix: str) -> Fields:
    """Fields over an inline table (for kinds with nested settings)."""
    return Fields(data, file, prefix)
