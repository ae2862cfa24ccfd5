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

import polars as pl

from eap.datasets.lazy import columns, scan
from eap.datasets.model import Dataset
from eap.derive.common import (
    as_adam,
    as_date,
    filter_variables,
    need_column,
    study_names,
    where,
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
    study: Study, sdtm: Mapping[str, Dataset]
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


_DATES = {"USUBJID": pl.String, "ADT": pl.Date, "SEQ": pl.Int64}


@dataclass
class _Endpoint:
    """The per-subject dates of one endpoint's sources, computed once each."""

    endpoint: Endpoint
    sdtm: Mapping[str, Dataset]
    adsl: pl.DataFrame
    cutoff: dt.date
    study: Study
    cache: dict[str, pl.DataFrame] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"endpoints.{self.endpoint.paramcd}"

    def frame(self, dataset: str) -> pl.DataFrame:
        if dataset == "ADSL":
            return self.adsl
        if dataset not in self.sdtm:
            raise EapError(
                f"endpoint {self.endpoint.paramcd} needs the {dataset} dataset",
                dataset=dataset,
                expected=f"a {dataset} dataset",
            )
        # Only the variables the endpoint's rules and sources name, read when needed.
        wanted = {"USUBJID"} | study_names(self.endpoint) | study_names(self.study.tte_sources)
        keep = [c for c in columns(self.sdtm, dataset) if c in wanted]
        return scan(self.sdtm, dataset).select(keep).collect()

    def truncation(self) -> pl.DataFrame | None:
        rule = self.endpoint.truncate
        if rule is None:
            return None
        if rule.dataset != "ADSL" and rule.dataset not in self.sdtm:
            return None  # no such records: nothing is truncated
        columns = set(self.frame(rule.dataset).columns)
        if filter_variables(rule.where or "") - columns or rule.date not in columns:
            return None
        if "\0truncate" not in self.cache:
            dates = self._records(rule, f"{self.prefix}.truncate", truncate=False)
            self.cache["\0truncate"] = dates.select("USUBJID", pl.col("ADT").alias("_T"))
        return self.cache["\0truncate"]

    def origin(self) -> pl.DataFrame:
        if "\0origin" not in self.cache:
            if "origin" in self.busy:
                raise PlanError(
                    "the origin depends on itself through its sources",
                    file=self.study.file,
                    variable=f"{self.prefix}.origin",
                )
            self.busy.add("origin")
            self.cache["\0origin"] = self._records(self.endpoint.origin, f"{self.prefix}.origin")
        return self.cache["\0origin"]

    def dates(self, name: str) -> pl.DataFrame:
        """USUBJID, ADT and SEQ of a named source (subjects without a date left out)."""
        if name not in self.cache:
            source = self.study.tte_sources[name]
            self.cache[name] = self._source(source)
        return self.cache[name]

    def _source(self, source: TteSource) -> pl.DataFrame:
        if source.kind == "origin":
            return self.origin()
        if source.kind == "cutoff":
            return self.adsl.select(
                "USUBJID",
                pl.lit(self.cutoff).alias("ADT"),
                pl.lit(None, dtype=pl.Int64).alias("SEQ"),
            )
        if source.kind == "truncation":
            truncated = self.truncation()
            if truncated is None:
                return pl.DataFrame(schema=_DATES)
            at = self.dates(source.at) if source.at else pl.DataFrame(schema=_DATES)
            return (
                truncated.select("USUBJID")
                .join(at, on="USUBJID", how="left")
                .join(
                    self.origin().select("USUBJID", pl.col("ADT").alias("_O")),
                    on="USUBJID",
                    how="left",
                )
                .select("USUBJID", pl.coalesce("ADT", "_O").alias("ADT"), "SEQ")
                .filter(pl.col("ADT").is_not_null())
            )
        return self._records(source, f"{source.role}_sources.{source.name}")

    def _name(self, table: str, key: str) -> str:
        """``event_sources.PD.where (endpoint PFS)``, ``endpoints.PFS.origin.date``."""
        if table.startswith("endpoints."):
            return f"{table}.{key}"
        return f"{table}.{key} (endpoint {self.endpoint.paramcd})"

    def _records(
        self, rule: TteSource | DateRule, table: str, *, truncate: bool = True
    ) -> pl.DataFrame:
        """The first or last record of a rule's dataset, after cutoff, truncation, before."""
        dataset = rule.dataset or ""
        frame = self.frame(dataset)
        file = self.study.file
        if rule.where:
            frame = frame.filter(
                where(rule.where, frame.columns, file=file, field=self._name(table, "where"))
            )
        date = rule.date or ""
        if date.startswith("ADSL.") and dataset != "ADSL":
            col = date.removeprefix("ADSL.")
            need_column(self.adsl, col, "ADSL", file=file, field=self._name(table, "date"))
            frame = frame.join(
                self.adsl.select("USUBJID", pl.col(col).alias("_ADSLDT")), on="USUBJID", how="left"
            )
            adt = pl.col("_ADSLDT")
        else:
            date = date.removeprefix("ADSL.")
            need_column(frame, date, dataset, file=file, field=self._name(table, "date"))
            adt = as_date(frame, date)
        seq_col = rule.seq if isinstance(rule, TteSource) else None
        if seq_col:
            need_column(frame, seq_col, dataset, file=file, field=self._name(table, "seq"))
        seq = pl.col(seq_col).cast(pl.Int64) if seq_col else pl.lit(None, dtype=pl.Int64)
        records = (
            frame.with_row_index("_ROW")
            .select("USUBJID", adt.alias("ADT"), seq.alias("SEQ"), "_ROW")
            .filter(pl.col("ADT").is_not_null() & (pl.col("ADT") <= self.cutoff))
        )
        truncated = self.truncation() if truncate else None
        if truncated is not None:
            records = records.join(truncated, on="USUBJID", how="left").filter(
                pl.col("_T").is_null() | (pl.col("ADT") < pl.col("_T"))
            )
        if rule.before:
            limit = self.dates(rule.before).select("USUBJID", pl.col("ADT").alias("_B"))
            records = records.join(limit, on="USUBJID", how="left").filter(
                pl.col("_B").is_null() | (pl.col("ADT") < pl.col("_B"))
            )
        picked = (
            records.sort("ADT", "SEQ", "_ROW", nulls_last=True)
            .group_by("USUBJID", maintain_order=True)
            .agg(pl.all().first() if rule.pick == "first" else pl.all().last())
            .select("USUBJID", "ADT", "SEQ")
        )
        gap = rule.max_gap_days if isinstance(rule, TteSource) else None
        if gap is not None and isinstance(rule, TteSource):
            ref = self.dates(rule.gap_from) if rule.gap_from else pl.DataFrame(schema=_DATES)
            origin = self.origin().select("USUBJID", pl.col("ADT").alias("_O"))
            picked = (
                picked.join(
                    ref.select("USUBJID", pl.col("ADT").alias("_R")), on="USUBJID", how="left"
                )
                .join(origin, on="USUBJID", how="left")
                .filter(pl.col("ADT") <= pl.coalesce("_R", "_O") + pl.duration(days=gap))
                .select("USUBJID", "ADT", "SEQ")
            )
        return picked


def _rows(e: _Endpoint, subjects: pl.DataFrame, source: TteSource, rank: int) -> pl.DataFrame:
    dates = e.dates(source.name)
    described = pl.lit(source.description, dtype=pl.String)
    missing = pl.lit(None, dtype=pl.String)
    return subjects.join(dates, on="USUBJID", how="inner").select(
        "USUBJID",
        pl.lit(e.endpoint.paramcd).alias("PARAMCD"),
        "STARTDT",
        "ADT",
        pl.lit(source.cnsr, dtype=pl.Int64).alias("CNSR"),
        (described if source.role == "event" else missing).alias("EVNTDESC"),
        (described if source.role != "event" else missing).alias("CNSDTDSC"),
        pl.lit(source.source_domain, dtype=pl.String).alias("SRCDOM"),
        pl.lit(source.source_variable, dtype=pl.String).alias("SRCVAR"),
        pl.col("SEQ").alias("SRCSEQ"),
        pl.lit(rank).alias("_RANK"),
    )


def derive_endpoint(
    endpoint: Endpoint,
    sdtm: Mapping[str, Dataset],
    adsl: pl.DataFrame,
    cutoff: dt.date,
    study: Study,
) -> pl.DataFrame:
    """ADTTE rows of one endpoint: the earliest event, else the first censoring with a date."""
    e = _Endpoint(endpoint, sdtm, adsl, cutoff, study)
    subjects = (
        adsl.select("USUBJID")
        .join(e.origin().select("USUBJID", pl.col("ADT").alias("STARTDT")), on="USUBJID")
        .filter(pl.col("STARTDT").is_not_null())
    )
    events = [_rows(e, subjects, s, rank) for rank, s in enumerate(endpoint.events)]
    censors = [_rows(e, subjects, s, 1000 + rank) for rank, s in enumerate(endpoint.censors)]
    first_event = (
        pl.concat(events).sort("USUBJID", "ADT", "_RANK").group_by("USUBJID").first()
        if events
        else None
    )
    rows = [first_event] if first_event is not None else []
    if censors:
        done = (
            first_event["USUBJID"].implode()
            if first_event is not None
            else pl.Series([], dtype=pl.String).implode()
        )
        rows.append(
            pl.concat(censors)
            .filter(~pl.col("USUBJID").is_in(done))
            .sort("USUBJID", "_RANK")
            .group_by("USUBJID")
            .first()
        )
    return pl.concat(rows).drop("_RANK")


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
    if not study.endpoints:
        raise PlanError(
            "the study defines no time-to-event endpoints",
            file=study.file,
            variable="endpoints",
            expected="[endpoints.PARAMCD] sections",
        )
    if "DM" not in sdtm:
        raise EapError("DM is required to derive ADTTE", dataset="DM")
    if adsl is None:
        from eap.derive.adsl import derive_adsl

        adsl = derive_adsl(sdtm, cutoff, study=study)
    if paramcds is None:
        paramcds, lacking = derivable_endpoints(study, sdtm)
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
    ids = sdtm["DM"].frame["STUDYID"].drop_nulls()
    name = studyid or (str(ids[0]) if ids.len() else "")  # DM without records: no name
    frames = []
    for ep in chosen:
        days = UNIT_DAYS.get(ep.unit, study.month_days * (12 if ep.unit == "YEARS" else 1))
        frames.append(
            derive_endpoint(ep, sdtm, adsl.frame, cutoff, study).with_columns(
                pl.lit(name).alias("STUDYID"),
                pl.lit(ep.param).alias("PARAM"),
                (((pl.col("ADT") - pl.col("STARTDT")).dt.total_days() + 1) / days).alias("AVAL"),
                pl.lit(ep.unit).alias("AVALU"),
            )
        )
    frame = (
        pl.concat(frames)
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
    return as_adam("ADTTE", "Time-to-Event Analysis Dataset", frame, {})


def censoring_summary(adtte: pl.DataFrame) -> pl.DataFrame:
    """Per parameter: events and each censoring reason, with counts (the table beside
    ADTTE), by parameter, CNSR and reason (alphabetical), so a rerun writes the same file."""
    return (
        adtte.with_columns(pl.coalesce("EVNTDESC", "CNSDTDSC").alias("REASON"))
        .group_by("PARAMCD", "CNSR", "REASON")
        .agg(pl.len().alias("N"))
        .sort("PARAMCD", "CNSR", "REASON", nulls_last=True)
    )
