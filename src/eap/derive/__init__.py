"""ADaM derivations: pure functions from SDTM datasets to analysis datasets.

``derive_all`` runs every derivation whose inputs are present, by the rules of a
study definition (eap.plans: ``study.toml``; MM-024 by default), and says which
ones it skipped and why; each module derives one dataset:

* adsl.py  ADSL  (DM; EX, DS, SV and the datasets the study's variables name)
* adae.py  ADAE  (AE, SUPPAE, ADSL)
* adcm.py  ADCM  (CM, ADSL)
* adex.py  ADEX  (EX records of the study drug, DS, ADSL; the protocol when the study has one)
* adtte.py ADTTE (the study's endpoints: DM, ADSL and the datasets their sources name)
* adrs.py  ADRS  (RS, by the study's response criteria)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from eap.datasets.lazy import BATCH_SUBJECTS, Projected, Subjects, scan, subject_batches
from eap.datasets.model import Dataset
from eap.datasets.validate import Finding
from eap.derive.adae import adae_dataset, derive_adae
from eap.derive.adcm import adcm_dataset, derive_adcm
from eap.derive.adex import adex_dataset, derive_adex
from eap.derive.adrs import adrs_dataset, derive_adrs
from eap.derive.adsl import adsl_dataset, adsl_gaps, derive_adsl
from eap.derive.adtte import adtte_dataset, derivable_endpoints, derive_adtte
from eap.derive.common import derivation_variables, latest_date
from eap.derive.inputs import derive_findings
from eap.engine.frames import Frame, Tables, lazy, polars_tables
from eap.errors import EapError
from eap.plans.study import DEFAULT_STUDY, Study, load_study

__all__ = [
    "BATCH_SUBJECTS",
    "Derived",
    "data_cutoff",
    "derive_adae",
    "derive_adcm",
    "derive_adex",
    "derive_adrs",
    "derive_adsl",
    "derive_adtte",
    "derive_all",
]


# What a derivation gives: a dataset, or its parts (batches of subjects, in order).
Output = Dataset | Iterator[Dataset]


@dataclass(frozen=True)
class Derived:
    """The derived datasets, what was skipped and why, the input findings, and the
    data cutoff used with where it came from."""

    datasets: dict[str, Dataset]
    skipped: dict[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    cutoff: dt.date | None = None
    cutoff_source: str = ""


def data_cutoff(
    sdtm: Mapping[str, Dataset], cutoff: dt.date | None, study: Study
) -> tuple[dt.date, str]:
    """The data cutoff and where it comes from: ``cutoff`` when given, else the study's
    (``[study] cutoff``), else the latest complete date in the data
    (eap.derive.common.latest_date: every --DTC variable of the subject-level datasets
    except DM.BRTHDTC), which excludes no record."""
    if cutoff is not None:
        return cutoff, "given"
    if study.cutoff is not None:
        return study.cutoff, f"study {study.id}: {study.file}"
    latest = latest_date(sdtm)
    if latest is None:
        raise EapError(
            "no data cutoff: the study sets none and the data hold no complete date",
            file=study.file,
            variable="study.cutoff",
            expected="a cutoff in study.toml, a cutoff given, or complete --DTC dates",
        )
    return latest[0], f"latest date in the data ({latest[1]})"


def derive_all(
    sdtm: Mapping[str, Dataset],
    cutoff: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    study: Study | None = None,
    store: Callable[[Sequence[Dataset] | Iterator[Dataset]], bool] | None = None,
    batch_subjects: int | None = None,
    spark: Any = None,
) -> Derived:
    """Every ADaM dataset eap can derive from ``sdtm`` for ``study`` (default MM-024).

    ``spark`` (a SparkSession; eap.engine.spark.session): the derivations run on Spark,
    reading each Parquet dataset with Spark (others are sent to it), the same rules as
    on Polars (eap.engine); each dataset derived is collected on the driver. The input
    checks and the data cutoff are computed with Polars, from the same files.

    ``store``, when given, is called with each dataset as soon as it is derived (in the
    order of ``Derived.datasets``), as its parts: one, or, with ``batch_subjects``, an
    iterator deriving it for that many subjects at a time; a dataset it takes (it
    returns True: written, say) is let go and left out of ``Derived.datasets``, so that
    a run holds one output at a time (ADSL stays in memory until the end: every other
    derivation reads it).

    ``batch_subjects`` (only with a ``store`` that takes every dataset): ADAE, ADCM,
    ADEX, ADTTE and ADRS are derived for consecutive ranges of USUBJID
    (eap.datasets.lazy.Subjects), so that a large study is never held whole. Their rules
    are subject by subject and their records sorted by USUBJID first, so the parts, in
    order, are the dataset derived whole (tests/derive/test_batches.py).

    ``cutoff`` None: the study's data cutoff, or, when the study has none, the latest
    complete date in the data (see :func:`data_cutoff`); ``Derived.cutoff`` and
    ``Derived.cutoff_source`` say which date was used and why.
    """
    say = progress or (lambda _: None)
    study = study or load_study(DEFAULT_STUDY)
    out: dict[str, Dataset] = {}

    def keep(derived: Output) -> None:
        if isinstance(derived, Dataset):
            if store is None or not store([derived]):
                out[derived.name] = derived
        elif store is None or not store(derived):
            raise ValueError("a dataset derived in batches must be taken by store")

    skipped: dict[str, str] = {}
    findings = derive_findings(sdtm, study)
    blocking = [f for f in findings if f.check == "subject-not-in-dm"]
    if blocking:
        return Derived({}, {"all": "subjects absent from DM (see findings)"}, tuple(findings))
    # Each derivation reads only the variables the rules use (all of DM, AE and CM);
    # a dataset read lazily from Parquet is read in part, when used, and let go.
    sdtm = Projected(sdtm, derivation_variables(study))
    cut, source = data_cutoff(sdtm, cutoff, study)
    engine = _Engine(spark)
    say("ADSL")
    adsl = adsl_dataset(engine.tables(sdtm), cut, study=study)
    keep(adsl)
    size = batch_subjects if store and spark is None else None
    by_subjects = _by_subjects(sdtm, adsl, engine, size, say)
    for name, why in adsl_gaps(adsl.frame, polars_tables(sdtm), study).items():
        skipped[f"ADSL.{name}"] = why
    if "AE" in sdtm and "TRTSDT" in adsl.frame.columns:
        say("ADAE")
        keep(by_subjects("ADAE", lambda t, a: adae_dataset(t, a, study=study, cutoff=cut)))
    else:
        skipped["ADAE"] = "no AE dataset" if "AE" not in sdtm else "no first dose (ADSL.TRTSDT)"
    if "CM" in sdtm:
        say("ADCM")
        keep(by_subjects("ADCM", lambda t, a: adcm_dataset(t, a, study=study, cutoff=cut)))
    else:
        skipped["ADCM"] = "no CM dataset"
    drug = study.treatments.study_drug
    if "EX" in sdtm and _has_records(sdtm, "EX", pl.col("EXTRT") == drug):
        say("ADEX")
        keep(by_subjects("ADEX", lambda t, a: adex_dataset(t, a, cut, study=study)))
    else:
        skipped["ADEX"] = f"no EX records of the study drug {drug}"
    _adtte(sdtm, cut, study, by_subjects, say, keep, skipped)
    if study.response is None:
        skipped["ADRS"] = f"study {study.id} defines no response criteria ([response])"
    elif study.response.dataset not in sdtm:
        skipped["ADRS"] = f"no {study.response.dataset} dataset"
    else:
        say("ADRS")
        keep(by_subjects("ADRS", lambda t, _: adrs_dataset(t, cut, study=study)))
    return Derived(out, skipped, tuple(findings), cut, source)


@dataclass(frozen=True)
class _Engine:
    """Where the derivations run: Polars (``spark`` None) or a Spark session."""

    spark: Any = None

    def tables(self, sdtm: Mapping[str, Dataset]) -> Tables:
        if self.spark is None:
            return polars_tables(sdtm)
        from eap.engine.spark import spark_tables

        return spark_tables(self.spark, sdtm)

    def adsl(self, frame: pl.DataFrame) -> Frame:
        if self.spark is None:
            return lazy(frame)
        from eap.engine.spark import from_polars

        return from_polars(self.spark, frame)


# derive(tables, adsl) for the subjects of both; the dataset named, whole or in parts.
Derivation = Callable[[Tables, Frame], Dataset]
BySubjects = Callable[[str, Derivation], Output]


def _by_subjects(
    sdtm: Mapping[str, Dataset],
    adsl: Dataset,
    engine: _Engine,
    size: int | None,
    say: Callable[[str], None],
) -> BySubjects:
    """How a subject-by-subject derivation runs on ``engine``: whole, or, when ``size``
    is given and ADSL has more subjects, in parts of ``size`` subjects
    (eap.datasets.lazy.Subjects)."""
    ranges = subject_batches(adsl.frame["USUBJID"], size) if size else []

    def run(name: str, derive: Derivation) -> Output:
        if len(ranges) < 2:
            return derive(engine.tables(sdtm), engine.adsl(adsl.frame))

        def parts() -> Iterator[Dataset]:
            for number, (start, stop) in enumerate(ranges, 1):
                say(f"{name} {number}/{len(ranges)}")
                view = Subjects(sdtm, start, stop)
                subjects = adsl.frame.filter(view.rows())
                yield derive(engine.tables(view), engine.adsl(subjects))

        return parts()

    return run


def _has_records(sdtm: Mapping[str, Dataset], name: str, condition: pl.Expr) -> bool:
    """True when a record of dataset ``name`` meets ``condition`` (read lazily)."""
    return bool(scan(sdtm, name).select(condition.any()).collect().item())


def _adtte(
    sdtm: Mapping[str, Dataset],
    cut: dt.date,
    study: Study,
    by_subjects: BySubjects,
    say: Callable[[str], None],
    keep: Callable[[Output], None],
    skipped: dict[str, str],
) -> None:
    """ADTTE with every endpoint whose datasets are present; the others named in skipped."""
    if not study.endpoints:
        skipped["ADTTE"] = f"study {study.id} defines no time-to-event endpoints ([endpoints])"
        return
    ready, lacking = derivable_endpoints(study, sdtm)
    if ready:
        say("ADTTE")
        keep(
            by_subjects("ADTTE", lambda t, a: adtte_dataset(t, a, cut, study=study, paramcds=ready))
        )
    for paramcd, absent in lacking.items():
        key = "ADTTE" if not ready else f"ADTTE {paramcd}"
        text = f"{paramcd}: no {', '.join(absent)} dataset"
        skipped[key] = f"{skipped[key]}; {text}" if key in skipped else text
