"""Derivation rules of a study definition: the parts of ``study.toml`` that eap.derive reads.

Each rule is a generic kind (a value merged from the first record of a dataset, a
time-to-event source, ...) whose parameters come from the file; ``describe()`` gives
the rule in words for docs/derivations.md and ``eap derive --explain``.

* ``[adsl.variables.NAME]``: an ADSL variable taken from an SDTM dataset (the first or
  last matching record's value, the number of matching records, or whether one exists),
  as admiral's ``derive_vars_merged``, ``derive_var_merged_summary`` and
  ``derive_var_merged_exist_flag`` do.
* ``[adsl.groups.NAME]``: a categorical ADSL variable from ordered filters on ADSL.
* ``[adae]``: flags, the variable of the action taken with the study drug, the phase at onset.
* ``[adex]``: the end-of-treatment disposition records, the long-treatment threshold,
  the cycle length.
* ``[response]``: the overall response records and the order of the response categories.
* ``[event_sources.NAME]``, ``[censor_sources.NAME]`` and ``[endpoints.PARAMCD]``:
  time-to-event endpoints built from ordered, named event and censoring sources, in the
  manner of admiral's ``event_source``, ``censor_source`` and ``derive_param_tte``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eap.errors import PlanError

if TYPE_CHECKING:
    from eap.plans.study import Fields

PICKS = ("first", "last")
VARIABLE_KINDS = ("first", "last", "count", "exists")
SOURCE_KINDS = ("record", "origin", "cutoff", "truncation")
UNITS = ("DAYS", "WEEKS", "MONTHS", "YEARS")


SUBJECT_LEVEL = ("DM", "ADSL")


def _quote(where: str | None) -> str:
    return f" where {where}" if where else ""


def _record(pick: str, dataset: str, where: str | None, date: str) -> str:
    """'first RS record where ..., dated by RSDTC', or 'DM.DTHDTC' for one record per subject."""
    if dataset in SUBJECT_LEVEL and not where:
        return date if date.startswith("ADSL.") else f"{dataset}.{date}"
    return f"{pick} {dataset} record{_quote(where)}, dated by {date}"


# --------------------------------------------------------------------------- ADSL


@dataclass(frozen=True)
class AdslVariable:
    """An ADSL variable merged from the records of an SDTM dataset.

    ``kind``: ``first``/``last`` (the value of ``value`` on the first/last matching record,
    ordered by ``date`` then by record order; a ``--DTC`` value becomes a date),
    ``count`` (the number of matching records, 0 without one), ``exists`` (``values[0]``
    when a matching record exists, else ``values[1]``). Records dated (``date``) after the
    data cutoff are dropped; undated records are kept. ``contains`` adds case-insensitive
    substring conditions (``{CMTRT = "BORTEZOMIB"}``) to ``where``.
    """

    name: str
    label: str
    dataset: str
    kind: str = "first"
    where: str | None = None
    value: str | None = None
    date: str | None = None
    contains: tuple[tuple[str, str], ...] = ()
    strip_prefix: str | None = None
    values: tuple[str, str] = ("Y", "N")

    def describe(self) -> str:
        cond = [self.where] if self.where else []
        cond += [f"{var} contains '{text}'" for var, text in self.contains]
        where = _quote(" and ".join(cond) if cond else None)
        dated = f", records dated by {self.date} up to the cutoff" if self.date else ""
        if self.kind == "count":
            return f"number of {self.dataset} records{where}{dated} (0 without one)"
        if self.kind == "exists":
            yes, no = self.values
            return f"{yes} when a {self.dataset} record exists{where}{dated}, else {no}"
        strip = f", without the prefix '{self.strip_prefix}'" if self.strip_prefix else ""
        as_date = " as a date" if (self.value or "").endswith("DTC") else ""
        if self.dataset in SUBJECT_LEVEL and not cond:
            return f"{self.dataset}.{self.value}{as_date}{strip}"
        return (
            f"{self.dataset}.{self.value}{as_date} of the {self.kind} {self.dataset} "
            f"record{where}{dated}{strip}"
        )


@dataclass(frozen=True)
class GroupLevel:
    value: str
    where: str


@dataclass(frozen=True)
class AdslGroup:
    """A categorical ADSL variable: the first level whose filter on ADSL holds (else missing)."""

    name: str
    label: str
    levels: tuple[GroupLevel, ...]

    def describe(self) -> str:
        return "; ".join(f"'{lv.value}' when {lv.where}" for lv in self.levels)


# --------------------------------------------------------------------------- ADAE


@dataclass(frozen=True)
class AeFlag:
    """A study-specific ADAE flag: Y where ``where`` holds on the AE record, else missing."""

    name: str
    label: str
    where: str


@dataclass(frozen=True)
class PeriodStart:
    date: str
    value: str


@dataclass(frozen=True)
class AePeriod:
    """The phase at AE onset from ADSL dates: the latest listed start on or before ASTDT."""

    name: str
    label: str
    starts: tuple[PeriodStart, ...]
    before: str | None = None

    def describe(self) -> str:
        parts = [f"'{s.value}' from ADSL.{s.date}" for s in self.starts]
        head = f"'{self.before}' before ADSL.{self.starts[0].date}; " if self.before else ""
        return head + "; ".join(parts) + " (the latest start on or before ASTDT)"


@dataclass(frozen=True)
class AdaeRules:
    flags: tuple[AeFlag, ...] = ()
    always_emergent: str | None = None
    action_variable: str | None = None
    period: AePeriod | None = None


# --------------------------------------------------------------------------- ADEX


@dataclass(frozen=True)
class AdexRules:
    """``end_of_treatment``: a filter on DS whose records end treatment (without one, a
    subject's treatment ends at the last dose); ``long_treatment_weeks``: the GTnnWK flag;
    ``cycle_days``: the planned cycle length for NINTERR's skipped cycles (None: the
    protocol's ``[regimen] cycle_days``, if the study has a protocol)."""

    end_of_treatment: str | None = None
    long_treatment_weeks: int | None = None
    cycle_days: int | None = None


# --------------------------------------------------------------------------- ADRS


@dataclass(frozen=True)
class ResponseRules:
    """Overall response records (``where`` on ``dataset``), categories best first."""

    criteria: str
    where: str
    order: tuple[str, ...]
    responders: tuple[str, ...]
    progression: str
    dataset: str = "RS"
    date: str = "RSDTC"
    bor_label: str = "Best Overall Response"
    rsp_label: str = "Responder"
    # A filter on DS: the stops for a progression judged clinically, which no response
    # record documents (eap validate's progression-not-documented rule exempts them).
    clinical_progression: str | None = None

    def rank(self) -> dict[str, int]:
        """Category to rank: the best gets len(order) - 1, the last 0 (unknown values: 0)."""
        top = len(self.order) - 1
        return {value: top - i for i, value in enumerate(self.order)}


# --------------------------------------------------------------------------- ADTTE


@dataclass(frozen=True)
class TteSource:
    """One event or censoring source of a time-to-event endpoint.

    ``kind``:

    * ``record`` (default): the first (``pick``) or last record of ``dataset``
      matching ``where``, dated by ``date`` (a ``--DTC`` variable of the dataset, a date
      variable of ADSL when the dataset is ADSL, or ``ADSL.VAR`` for the subject's ADSL
      date). Optional: ``before`` (only records strictly before the subject's date of
      another source), ``max_gap_days`` with ``gap_from`` (only a date at most that many
      days after the subject's date of the ``gap_from`` source, else of the origin).
    * ``origin``: the endpoint's origin date.
    * ``cutoff``: the data cutoff.
    * ``truncation``: for a subject whose endpoint is truncated (a new anticancer therapy),
      the date of the ``at`` source (else the origin).

    ``cnsr`` is 0 for events; ``description`` goes to EVNTDESC for an event and to
    CNSDTDSC for a censoring; ``srcdom``/``srcvar``/``seq`` fill SRCDOM, SRCVAR, SRCSEQ.
    """

    name: str
    role: str  # "event" or "censor"
    cnsr: int
    description: str
    kind: str = "record"
    dataset: str | None = None
    where: str | None = None
    date: str | None = None
    pick: str = "first"
    seq: str | None = None
    srcdom: str | None = None
    srcvar: str | None = None
    before: str | None = None
    max_gap_days: int | None = None
    gap_from: str | None = None
    at: str | None = None

    @property
    def source_domain(self) -> str | None:
        return self.srcdom or self.dataset

    @property
    def source_variable(self) -> str | None:
        if self.srcvar:
            return self.srcvar
        return (self.date or "").removeprefix("ADSL.") or None

    def references(self) -> tuple[str, ...]:
        return tuple(r for r in (self.before, self.gap_from, self.at) if r)

    def date_rule(self) -> str:
        """How the source's date is found, in words."""
        if self.kind == "origin":
            return "the origin"
        if self.kind == "cutoff":
            return "the data cutoff"
        if self.kind == "truncation":
            at = f"{self.at} (else the origin)" if self.at else "the origin"
            return f"when the endpoint is truncated for the subject: the date of {at}"
        text = _record(self.pick, self.dataset or "", self.where, self.date or "")
        if self.before:
            text += f", before {self.before}"
        if self.max_gap_days is not None:
            ref = f"{self.gap_from} (else the origin)" if self.gap_from else "the origin"
            text += f", only when at most {self.max_gap_days} days after {ref}"
        return text

    def describe(self) -> str:
        what = "EVNTDESC" if self.role == "event" else "CNSDTDSC"
        src = f"{self.source_domain}.{self.source_variable}" if self.source_domain else ""
        seq = f", SRCSEQ {self.seq}" if self.seq else ""
        return (
            f"{self.name} ({self.role}, CNSR {self.cnsr}): {self.date_rule()}; "
            f"{what} '{self.description}'" + (f"; SRCDOM.SRCVAR {src}{seq}" if src else "")
        )


@dataclass(frozen=True)
class DateRule:
    """A per-subject date: the first/last record of ``dataset`` matching ``where``."""

    label: str
    dataset: str
    date: str
    where: str | None = None
    pick: str = "first"
    before: str | None = None

    def as_source(self, name: str) -> TteSource:
        return TteSource(
            name=name,
            role="origin",
            cnsr=0,
            description=self.label,
            dataset=self.dataset,
            where=self.where,
            date=self.date,
            pick=self.pick,
            before=self.before,
        )

    def describe(self) -> str:
        before = f", before {self.before}" if self.before else ""
        return f"{self.label} ({_record(self.pick, self.dataset, self.where, self.date)}{before})"


@dataclass(frozen=True)
class Endpoint:
    """A time-to-event parameter: origin, ordered events and censorings, optional truncation.

    Among the events, the earliest date wins (a tie goes to the one listed first) and
    CNSR is 0; without an event, the first censoring listed that has a date gives ADT
    and CNSR. AVAL = (ADT - STARTDT + 1) days, in ``unit``.
    """

    paramcd: str
    param: str
    origin: DateRule
    events: tuple[TteSource, ...]
    censors: tuple[TteSource, ...]
    truncate: DateRule | None = None
    unit: str = "MONTHS"

    def sources(self) -> tuple[TteSource, ...]:
        return self.events + self.censors

    def describe(self) -> str:
        lines = [
            f"{self.paramcd}: {self.param}; AVAL in {self.unit.lower()} from "
            f"{self.origin.describe()}"
        ]
        if self.truncate:
            lines.append(
                f"  truncated at {self.truncate.describe()}: records on or after it are ignored"
            )
        lines.append("  events (the earliest wins; a tie goes to the one listed first):")
        lines += [f"    {i}. {s.describe()}" for i, s in enumerate(self.events, 1)]
        lines.append("  censoring (the first listed that has a date):")
        lines += [f"    {i}. {s.describe()}" for i, s in enumerate(self.censors, 1)]
        return "\n".join(lines)


# --------------------------------------------------------------------------- parsing


def _pick(f: Fields, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = f.text(key, default)
    if value not in allowed:
        raise f._fail(key, "one of " + ", ".join(allowed))
    return value


def parse_adsl_variables(f: Fields) -> tuple[AdslVariable, ...]:
    out: list[AdslVariable] = []
    for name in f.data:
        v = f.table(name)
        v.unknown(
            (
                "label",
                "dataset",
                "kind",
                "where",
                "value",
                "date",
                "contains",
                "strip_prefix",
                "values",
            )
        )
        kind = _pick(v, "kind", VARIABLE_KINDS, "first")
        contains = v.table("contains", {})
        pairs = tuple((var, contains.text(var)) for var in contains.data)
        values = v.texts("values", ("Y", "N"))
        if len(values) != 2:
            raise v._fail("values", "two strings: [when a record exists, when none does]")
        value = v.text("value") if kind in ("first", "last") else v.optional_text("value")
        out.append(
            AdslVariable(
                name=name,
                label=v.text("label", name),
                dataset=v.text("dataset").upper(),
                kind=kind,
                where=v.optional_text("where"),
                value=value,
                date=v.optional_text("date"),
                contains=pairs,
                strip_prefix=v.optional_text("strip_prefix"),
                values=(values[0], values[1]),
            )
        )
    return tuple(out)


def parse_adsl_groups(f: Fields) -> tuple[AdslGroup, ...]:
    out: list[AdslGroup] = []
    for name in f.data:
        g = f.table(name)
        g.unknown(("label", "levels"))
        levels = []
        for lv in g.tables("levels"):
            lv.unknown(("value", "where"))
            levels.append(GroupLevel(lv.text("value"), lv.text("where")))
        if not levels:
            raise g._fail("levels", "at least one { value = ..., where = ... }")
        out.append(AdslGroup(name, g.text("label", name), tuple(levels)))
    return tuple(out)


def parse_adae(f: Fields) -> AdaeRules:
    flags: list[AeFlag] = []
    flag_tables = f.table("flags", {})
    for name in flag_tables.data:
        g = flag_tables.table(name)
        g.unknown(("label", "where"))
        flags.append(AeFlag(name, g.text("label", name), g.text("where")))
    period = None
    if "period" in f.data:
        p = f.table("period")
        p.unknown(("variable", "label", "starts", "before"))
        starts = []
        for s in p.tables("starts"):
            s.unknown(("date", "value"))
            starts.append(PeriodStart(s.text("date"), s.text("value")))
        if not starts:
            raise p._fail("starts", "at least one { date = ADSL variable, value = ... }")
        period = AePeriod(
            p.text("variable"),
            p.text("label", "Phase at Onset"),
            tuple(starts),
            p.optional_text("before"),
        )
    return AdaeRules(
        flags=tuple(flags),
        always_emergent=f.optional_text("always_emergent"),
        action_variable=f.optional_text("action_variable"),
        period=period,
    )


def parse_adex(f: Fields) -> AdexRules:
    f.unknown(("end_of_treatment", "long_treatment_weeks", "cycle_days"))
    cycle_days = f.integer("cycle_days")
    if cycle_days == 0:
        raise f._fail("cycle_days", "a whole number of days > 0")
    return AdexRules(
        end_of_treatment=f.optional_text("end_of_treatment"),
        long_treatment_weeks=f.integer("long_treatment_weeks"),
        cycle_days=cycle_days,
    )


def parse_response(f: Fields) -> ResponseRules:
    f.unknown(
        (
            "criteria",
            "dataset",
            "where",
            "date",
            "order",
            "responders",
            "progression",
            "bor_label",
            "rsp_label",
            "clinical_progression",
        )
    )
    order = f.texts("order")
    responders = f.texts("responders")
    progression = f.text("progression")
    for key, values in (("responders", responders), ("progression", (progression,))):
        missing = [v for v in values if v not in order]
        if missing:
            raise f._fail(key, "categories listed in order (" + ", ".join(order) + ")")
    criteria = f.text("criteria")
    return ResponseRules(
        criteria=criteria,
        where=f.text("where"),
        order=order,
        responders=responders,
        progression=progression,
        dataset=f.text("dataset", "RS").upper(),
        date=f.text("date", "RSDTC"),
        bor_label=f.text("bor_label", f"Best Overall Response ({criteria})"),
        rsp_label=f.text("rsp_label", "Responder"),
        clinical_progression=f.optional_text("clinical_progression"),
    )


_SOURCE_KEYS = (
    "kind",
    "description",
    "cnsr",
    "dataset",
    "where",
    "date",
    "pick",
    "seq",
    "srcdom",
    "srcvar",
    "before",
    "max_gap_days",
    "gap_from",
    "at",
)


def _source(f: Fields, name: str, role: str) -> TteSource:
    f.unknown(_SOURCE_KEYS + (("name",) if "name" in f.data else ()))
    kind = _pick(f, "kind", SOURCE_KINDS, "record")
    cnsr = 0 if role == "event" else f.integer("cnsr", 1)
    if role == "event" and "cnsr" in f.data:
        raise f._fail("cnsr", "no cnsr for an event source (events have CNSR 0)")
    dataset = f.optional_text("dataset")
    date = f.optional_text("date")
    if kind == "record":
        dataset = f.text("dataset")
        date = f.text("date")
    gap = f.integer("max_gap_days")
    if kind != "record":
        for key in (
            "dataset",
            "where",
            "date",
            "pick",
            "seq",
            "before",
            "max_gap_days",
            "gap_from",
        ):
            if key in f.data:
                raise f._fail(key, f"nothing: a {kind} source has no {key}")
    if kind != "truncation" and "at" in f.data:
        raise f._fail("at", "nothing: only a truncation source has at")
    if "gap_from" in f.data and gap is None:
        raise f._fail("gap_from", "max_gap_days beside it")
    return TteSource(
        name=name,
        role=role,
        cnsr=cnsr if cnsr is not None else 1,
        description=f.text("description"),
        kind=kind,
        dataset=dataset.upper() if dataset else None,
        where=f.optional_text("where"),
        date=date,
        pick=_pick(f, "pick", PICKS, "first"),
        seq=f.optional_text("seq"),
        srcdom=f.optional_text("srcdom"),
        srcvar=f.optional_text("srcvar"),
        before=f.optional_text("before"),
        max_gap_days=gap,
        gap_from=f.optional_text("gap_from"),
        at=f.optional_text("at"),
    )


def _date_rule(f: Fields) -> DateRule:
    f.unknown(("label", "dataset", "date", "where", "pick", "before"))
    return DateRule(
        label=f.text("label"),
        dataset=f.text("dataset").upper(),
        date=f.text("date"),
        where=f.optional_text("where"),
        pick=_pick(f, "pick", PICKS, "first"),
        before=f.optional_text("before"),
    )


def parse_endpoints(top: Fields) -> tuple[dict[str, Endpoint], dict[str, TteSource]]:
    """``[event_sources]``, ``[censor_sources]`` and ``[endpoints]``; references checked."""
    from eap.plans.study import Fields

    named: dict[str, TteSource] = {}
    where_defined: dict[str, str] = {}
    for role, key in (("event", "event_sources"), ("censor", "censor_sources")):
        table = top.table(key, {})
        for name in table.data:
            if name in named:
                raise PlanError(
                    "two sources share a name",
                    file=top.file,
                    variable=f"{key}.{name}",
                    expected="one name per source",
                    found=f"also in {where_defined[name]}",
                )
            named[name] = _source(table.table(name), name, role)
            where_defined[name] = f"{key}.{name}"
    endpoints: dict[str, Endpoint] = {}
    table = top.table("endpoints", {})
    for paramcd in table.data:
        e = table.table(paramcd)
        e.unknown(("param", "origin", "truncate", "events", "censors", "unit"))
        lists: dict[str, list[TteSource]] = {"events": [], "censors": []}
        for key, role in (("events", "event"), ("censors", "censor")):
            raw = e.data.get(key, [])
            if not isinstance(raw, list):
                raise e._fail(key, "a list of source names or inline source tables")
            for i, item in enumerate(raw):
                if isinstance(item, str):
                    if item not in named:
                        raise e._fail(
                            key, "names of [event_sources]/[censor_sources] (or inline tables)"
                        )
                    source = named[item]
                    if source.role != role:
                        raise PlanError(
                            f"a {source.role} source listed among the {key}",
                            file=top.file,
                            variable=f"endpoints.{paramcd}.{key}[{i}]",
                            expected=f"a name from [{role}_sources]",
                            found=repr(item),
                        )
                elif isinstance(item, Mapping):
                    f = Fields(item, top.file, f"endpoints.{paramcd}.{key}[{i}]")
                    source = _source(f, f.text("name"), role)
                    if source.name in named and named[source.name] != source:
                        raise f._fail("name", "a name not used by another source")
                    named[source.name] = source
                else:
                    raise e._fail(key, "a list of source names or inline source tables")
                lists[key].append(source)
        if not lists["events"] and not lists["censors"]:
            raise e._fail("events", "at least one event or censoring source")
        origin = _date_rule(e.table("origin"))
        truncate = _date_rule(e.table("truncate")) if "truncate" in e.data else None
        endpoint = Endpoint(
            paramcd=paramcd,
            param=e.text("param"),
            origin=origin,
            events=tuple(lists["events"]),
            censors=tuple(lists["censors"]),
            truncate=truncate,
            unit=_pick(e, "unit", UNITS, "MONTHS"),
        )
        _check_references(endpoint, named, top.file)
        endpoints[paramcd] = endpoint
    return endpoints, named


def _check_references(endpoint: Endpoint, named: Mapping[str, TteSource], file: Any) -> None:
    """Every before/gap_from/at names a source; no source depends on itself."""

    def walk(name: str, trail: tuple[str, ...], where: str) -> None:
        if name in trail:
            raise PlanError(
                "sources refer to each other in a circle",
                file=file,
                variable=f"endpoints.{endpoint.paramcd}",
                found=" -> ".join((*trail, name)),
            )
        if name not in named:
            raise PlanError(
                "a source refers to an unknown source",
                file=file,
                variable=where,
                expected="a name from [event_sources] or [censor_sources]",
                found=repr(name),
            )
        for ref in named[name].references():
            walk(ref, (*trail, name), f"{where} -> {name}")

    for source in endpoint.sources():
        for ref in source.references():
            walk(ref, (source.name,), f"endpoints.{endpoint.paramcd}: {source.name}")
    if endpoint.origin.before:
        walk(endpoint.origin.before, ("origin",), f"endpoints.{endpoint.paramcd}.origin.before")
    if any(s.kind == "truncation" for s in endpoint.censors) and endpoint.truncate is None:
        raise PlanError(
            "a truncation source in an endpoint without truncate",
            file=file,
            variable=f"endpoints.{endpoint.paramcd}.truncate",
            expected="a truncate = { label, dataset, where, date } table",
            found="nothing",
        )
