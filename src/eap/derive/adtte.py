"""ADTTE: time-to-event parameters from the study's endpoints (``[endpoints]`` in study.toml).

An endpoint is an origin, ordered and named event and censoring sources, and an
optional truncation, in the manner of admiral's ``derive_param_tte`` with
``event_source`` and ``censor_source`` (eap.plans.rules holds the kinds of source):

1. Every record dated after the data cutoff is dropped first; so is every record
   dated on or after the subject's truncation date (the first record of the
   endpoint's ``truncate`` rule, e.g. a new anticancer therapy), when there is one
   (data without that dataset, or without the variables the rule names, truncate
   nothing).
2. A subject enters the parameter when the origin has a date (STARTDT).
3. Among the event sources, the earliest date wins (a tie goes to the source listed
   first); an event makes CNSR 0 and its description goes to EVNTDESC.
4. Without an event, the first censoring source listed that has a date gives ADT,
   CNSR (the source's code) and CNSDTDSC. admiral's ``derive_param_tte`` takes the
   latest censoring date instead; eap's order of censoring sources is a priority,
   which is how the FDA censoring table reads (new anticancer therapy before the
   last adequate assessment).
5. AVAL = ADT - STARTDT + 1 days, in the endpoint's unit (months of the study's
   month length, by default).

A source of kind ``record`` takes the first (or last) record of a dataset matching
its filter; ``before`` keeps only records before the subject's date of another
source (the last adequate assessment before progression); ``max_gap_days`` with
``gap_from`` counts the picked date only when it is at most that many days after
the subject's date of another source, else after the origin (death counted only
within two missed assessments of the last adequate one); kind ``truncation`` gives,
for a truncated subject, the date of its ``at`` source, else the origin; kinds
``origin`` and ``cutoff`` give those dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import narwhals as nw
import polars as pl

from eap.datasets.model import Dataset
from eap.derive.common import (
    as_adam,
    filter_variables,
    need_column,
    study_names,
    where_neutral,
)
from eap.engine.frames import (
    Frame,
    Tables,
    collect,
    columns,
    days_between,
    first_in_order,
    lazy,
    persist,
    polars_tables,
    with_dates,
    with_row_number,
)
from eap.errors import EapError, PlanError
from eap.plans.rules import DateRule, Endpoint, TteSource
from eap.plans.study import DEFAULT_STUDY, Study, load_study

UNIT_DAYS = {"DAYS": 1.0, "WEEKS": 7.0}


def endpoint_datasets(endpoint: Endpoint, sources: Mapping[str, TteSource]) -> set[str]:
    """The datasets an endpoint reads (SDTM domains and ADSL), referenced sources included."""
    needed = {endpoint.origin.dataset}
    todo = list(endpoint.sources())
    todo += [sources[r] for r in (endpoint.origin.before,) if r and r in sources]
    seen: set[str] = set()
    while todo:
        source = todo.pop()
        if source.name in seen:
            continue
        seen.add(source.name)
        if source.kind == "record" and source.dataset:
            needed.add(source.dataset)
            if (source.date or "").startswith("ADSL."):
                needed.add("ADSL")
        todo += [sources[r] for r in source.references() if r in sources]
    return needed


def derivable_endpoints(
    study: Study, sdtm: Mapping[str, object]
) -> tuple[list[str], dict[str, list[str]]]:
    """The endpoints whose datasets are all present, and for the others the absent ones."""
    ready: list[str] = []
    lacking: dict[str, list[str]] = {}
    for paramcd, endpoint in study.endpoints.items():
        needed = endpoint_datasets(endpoint, study.tte_sources)
        absent = sorted(d for d in needed if d != "ADSL" and d not in sdtm)
        if absent:
            lacking[paramcd] = absent
        else:
            ready.append(paramcd)
    return ready, lacking


@dataclass
class _Endpoint:
    """The per-subject dates of one endpoint's sources, each a lazy frame built once."""

    endpoint: Endpoint
    tables: Tables
    adsl: Frame
    cutoff: dt.date
    study: Study
    cache: dict[str, Frame] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"endpoints.{self.endpoint.paramcd}"

    def frame(self, dataset: str) -> Frame:
        """The dataset's records numbered as read (``_ROW``), with only the variables
        the endpoint's rules and sources name."""
        if dataset == "ADSL":
            return with_row_number(self.adsl, "_ROW")
        if dataset not in self.tables:
            raise EapError(
                f"endpoint {self.endpoint.paramcd} needs the {dataset} dataset",
                dataset=dataset,
                expected=f"a {dataset} dataset",
            )
        wanted = {"USUBJID"} | study_names(self.endpoint) | study_names(self.study.tte_sources)
        frame = self.tables[dataset]
        keep = [c for c in columns(frame) if c in wanted]
        return with_row_number(frame.select(keep), "_ROW")

    def none(self) -> Frame:
        """No dates (USUBJID, ADT, SEQ without rows), on the engine of the data."""
        return self.adsl.select(
            "USUBJID",
            nw.lit(None, dtype=nw.Date).alias("ADT"),
            nw.lit(None, dtype=nw.Int64).alias("SEQ"),
        ).head(0)

    def truncation(self) -> Frame | None:
        rule = self.endpoint.truncate
        if rule is None:
            return None
        if rule.dataset != "ADSL" and rule.dataset not in self.tables:
            return None  # no such records: nothing is truncated
        names = set(columns(self.frame(rule.dataset)))
        if filter_variables(rule.where or "") - names or rule.date not in names:
            return None
        if "\0truncate" not in self.cache:
            dates = self._records(rule, f"{self.prefix}.truncate", truncate=False)
            self.cache["\0truncate"] = persist(dates.select("USUBJID", nw.col("ADT").alias("_T")))
        return self.cache["\0truncate"]

    def origin(self) -> Frame:
        if "\0origin" not in self.cache:
            if "origin" in self.busy:
                raise PlanError(
                    "the origin depends on itself through its sources",
                    file=self.study.file,
                    variable=f"{self.prefix}.origin",
                )
            self.busy.add("origin")
            origin = self._records(self.endpoint.origin, f"{self.prefix}.origin")
            self.cache["\0origin"] = persist(origin)
        return self.cache["\0origin"]

    def dates(self, name: str) -> Frame:
        """USUBJID, ADT and SEQ of a named source (subjects without a date left out)."""
        if name not in self.cache:
            source = self.study.tte_sources[name]
            self.cache[name] = persist(self._source(source))
        return self.cache[name]

    def _source(self, source: TteSource) -> Frame:
        if source.kind == "origin":
            return self.origin()
        if source.kind == "cutoff":
            return self.adsl.select(
                "USUBJID",
                nw.lit(self.cutoff).alias("ADT"),
                nw.lit(None, dtype=nw.Int64).alias("SEQ"),
            )
        if source.kind == "truncation":
            truncated = self.truncation()
            if truncated is None:
                return self.none()
            at = self.dates(source.at) if source.at else self.none()
            return (
                truncated.select("USUBJID")
                .join(at, on="USUBJID", how="left")
                .join(
                    self.origin().select("USUBJID", nw.col("ADT").alias("_O")),
                    on="USUBJID",
                    how="left",
                )
                .select("USUBJID", nw.coalesce("ADT", "_O").alias("ADT"), "SEQ")
                .filter(~nw.col("ADT").is_null())
            )
        return self._records(source, f"{source.role}_sources.{source.name}")

    def _name(self, table: str, key: str) -> str:
        """``event_sources.PD.where (endpoint PFS)``, ``endpoints.PFS.origin.date``."""
        if table.startswith("endpoints."):
            return f"{table}.{key}"
        return f"{table}.{key} (endpoint {self.endpoint.paramcd})"

    def _records(self, rule: TteSource | DateRule, table: str, *, truncate: bool = True) -> Frame:
        """The first or last record of a rule's dataset, after cutoff, truncation, before:
        in the order of the date, then of the sequence variable (records without one
        last), then of the records as read."""
        dataset = rule.dataset or ""
        frame = self.frame(dataset)
        names = [c for c in columns(frame) if c != "_ROW"]
        file = self.study.file
        if rule.where:
            frame = frame.filter(
                where_neutral(rule.where, names, file=file, field=self._name(table, "where"))
            )
        date = rule.date or ""
        if date.startswith("ADSL.") and dataset != "ADSL":
            col = date.removeprefix("ADSL.")
            field = self._name(table, "date")
            need_column(columns(self.adsl), col, "ADSL", file=file, field=field)
            frame = frame.join(
                self.adsl.select("USUBJID", nw.col(col).alias("_ADSLDT")), on="USUBJID", how="left"
            )
            adt = "_ADSLDT"
        else:
            adt = date.removeprefix("ADSL.")
            need_column(names, adt, dataset, file=file, field=self._name(table, "date"))
        seq_col = rule.seq if isinstance(rule, TteSource) else None
        if seq_col:
            need_column(names, seq_col, dataset, file=file, field=self._name(table, "seq"))
        seq = nw.col(seq_col).cast(nw.Int64) if seq_col else nw.lit(None, dtype=nw.Int64)
        records = (
            with_dates(frame, {"_ADT": adt})
            .select("USUBJID", nw.col("_ADT").alias("ADT"), seq.alias("SEQ"), "_ROW")
            .filter(~nw.col("ADT").is_null() & (nw.col("ADT") <= self.cutoff))
        )
        truncated = self.truncation() if truncate else None
        if truncated is not None:
            records = records.join(truncated, on="USUBJID", how="left").filter(
                nw.col("_T").is_null() | (nw.col("ADT") < nw.col("_T"))
            )
        if rule.before:
            limit = self.dates(rule.before).select("USUBJID", nw.col("ADT").alias("_B"))
            records = records.join(limit, on="USUBJID", how="left").filter(
                nw.col("_B").is_null() | (nw.col("ADT") < nw.col("_B"))
            )
        records = records.with_columns(nw.col("SEQ").is_null().alias("_NOSEQ"))
        order = ["ADT", "_NOSEQ", "SEQ", "_ROW"]
        picked = first_in_order(records, "USUBJID", order, last=rule.pick != "first").select(
            "USUBJID", "ADT", "SEQ"
        )
        gap = rule.max_gap_days if isinstance(rule, TteSource) else None
        if gap is not None and isinstance(rule, TteSource):
            ref = self.dates(rule.gap_from) if rule.gap_from else self.none()
            origin = self.origin().select("USUBJID", nw.col("ADT").alias("_O"))
            picked = (
                picked.join(
                    ref.select("USUBJID", nw.col("ADT").alias("_R")), on="USUBJID", how="left"
                )
                .join(origin, on="USUBJID", how="left")
                .with_columns(nw.coalesce("_R", "_O").alias("_FROM"))
                .filter(days_between("ADT", "_FROM") <= gap)
                .select("USUBJID", "ADT", "SEQ")
            )
        return picked


def _rows(e: _Endpoint, subjects: Frame, source: TteSource, rank: int) -> Frame:
    dates = e.dates(source.name)
    described = nw.lit(source.description, dtype=nw.String)
    missing = nw.lit(None, dtype=nw.String)
    return subjects.join(dates, on="USUBJID", how="inner").select(
        "USUBJID",
        nw.lit(e.endpoint.paramcd).alias("PARAMCD"),
        "STARTDT",
        "ADT",
        nw.lit(source.cnsr, dtype=nw.Int64).alias("CNSR"),
        (described if source.role == "event" else missing).alias("EVNTDESC"),
        (described if source.role != "event" else missing).alias("CNSDTDSC"),
        nw.lit(source.source_domain, dtype=nw.String).alias("SRCDOM"),
        nw.lit(source.source_variable, dtype=nw.String).alias("SRCVAR"),
        nw.col("SEQ").alias("SRCSEQ"),
        nw.lit(rank, dtype=nw.Int64).alias("_RANK"),
    )


def derive_endpoint(
    endpoint: Endpoint, tables: Tables, adsl: Frame, cutoff: dt.date, study: Study
) -> Frame:
    """ADTTE rows of one endpoint: the earliest event, else the first censoring with a date."""
    e = _Endpoint(endpoint, tables, adsl, cutoff, study)
    subjects = (
        adsl.select("USUBJID")
        .join(e.origin().select("USUBJID", nw.col("ADT").alias("STARTDT")), on="USUBJID")
        .filter(~nw.col("STARTDT").is_null())
    )
    events = [_rows(e, subjects, s, rank) for rank, s in enumerate(endpoint.events)]
    censors = [_rows(e, subjects, s, 1000 + rank) for rank, s in enumerate(endpoint.censors)]
    first_event = first_in_order(nw.concat(events), "USUBJID", ["ADT", "_RANK"]) if events else None
    rows = [first_event] if first_event is not None else []
    if censors:
        censored = first_in_order(nw.concat(censors), "USUBJID", ["_RANK"])
        if first_event is not None:
            censored = censored.join(first_event.select("USUBJID"), on="USUBJID", how="anti")
        rows.append(censored)
    return nw.concat(rows).drop("_RANK")


def derive_adtte(
    sdtm: Mapping[str, Dataset],
    cutoff: dt.date,
    *,
    studyid: str | None = None,
    study: Study | None = None,
    adsl: Dataset | None = None,
    paramcds: Sequence[str] | None = None,
) -> Dataset:
    """ADTTE with the study's endpoints (default MM-024: PFS, TTP, OS, DOR, FUP), one row
    per subject and parameter; ADSL is derived when not given. ``paramcds`` selects
    endpoints; by default, every endpoint whose datasets are present
    (:func:`derivable_endpoints`)."""
    study = study or load_study(DEFAULT_STUDY)
    tables = polars_tables(sdtm)
    if adsl is None and "DM" in sdtm:
        from eap.derive.adsl import derive_adsl

        adsl = derive_adsl(sdtm, cutoff, study=study)
    return adtte_dataset(
        tables,
        lazy(adsl.frame) if adsl is not None else None,
        cutoff,
        studyid=studyid,
        study=study,
        paramcds=paramcds,
    )


def adtte_dataset(
    tables: Tables,
    adsl: Frame | None,
    cutoff: dt.date,
    *,
    studyid: str | None = None,
    study: Study | None = None,
    paramcds: Sequence[str] | None = None,
) -> Dataset:
    """:func:`derive_adtte` on any engine: ADTTE from ``tables`` and ``adsl`` (frames
    of one engine), collected as a Dataset."""
    study = study or load_study(DEFAULT_STUDY)
    if not study.endpoints:
        raise PlanError(
            "the study defines no time-to-event endpoints",
            file=study.file,
            variable="endpoints",
            expected="[endpoints.PARAMCD] sections",
        )
    if "DM" not in tables or adsl is None:
        raise EapError("DM is required to derive ADTTE", dataset="DM")
    if paramcds is None:
        paramcds, lacking = derivable_endpoints(study, tables)
        if not paramcds:
            first = next(iter(lacking.values()))
            raise EapError(
                "no endpoint of the study can be derived from these data",
                dataset=first[0],
                expected="the datasets of at least one endpoint",
                found="; ".join(f"{p}: no {', '.join(d)}" for p, d in lacking.items()),
            )
    unknown = [p for p in paramcds if p not in study.endpoints]
    if unknown:
        raise PlanError(
            "unknown endpoint",
            file=study.file,
            variable="endpoints",
            expected="one of " + ", ".join(study.endpoints),
            found=", ".join(unknown),
        )
    chosen = [study.endpoints[p] for p in paramcds]
    if studyid is None:
        # DM's first study identifier (DM without records: no name).
        ids = tables["DM"].select("STUDYID").filter(~nw.col("STUDYID").is_null()).head(1)
        found = collect(ids)
        studyid = str(found.item()) if found.height else ""
    frames = []
    for ep in chosen:
        days = UNIT_DAYS.get(ep.unit, study.month_days * (12 if ep.unit == "YEARS" else 1))
        frames.append(
            derive_endpoint(ep, tables, adsl, cutoff, study).with_columns(
                nw.lit(studyid, dtype=nw.String).alias("STUDYID"),
                nw.lit(ep.param, dtype=nw.String).alias("PARAM"),
                ((days_between("ADT", "STARTDT") + 1) / days).alias("AVAL"),
                nw.lit(ep.unit, dtype=nw.String).alias("AVALU"),
            )
        )
    frame = (
        nw.concat(frames)
        .select(
            "STUDYID",
            "USUBJID",
            "PARAMCD",
            "PARAM",
            "AVAL",
            "AVALU",
            "STARTDT",
            "ADT",
            "CNSR",
            "EVNTDESC",
            "CNSDTDSC",
            "SRCDOM",
            "SRCVAR",
            "SRCSEQ",
        )
        .sort("USUBJID", "PARAMCD")
    )
    return as_adam("ADTTE", "Time-to-Event Analysis Dataset", collect(frame), {})


def censoring_summary(adtte: pl.DataFrame) -> pl.DataFrame:
    """Per parameter: events and each censoring reason, with counts (the table beside
    ADTTE), by parameter, CNSR and reason (alphabetical), so a rerun writes the same file."""
    return (
        adtte.with_columns(pl.coalesce("EVNTDESC", "CNSDTDSC").alias("REASON"))
        .group_by("PARAMCD", "CNSR", "REASON")
        .agg(pl.len().alias("N"))
        .sort("PARAMCD", "CNSR", "REASON", nulls_last=True)
    )
