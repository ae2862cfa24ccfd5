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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

from eap.datasets.lazy import Projected, scan
from eap.datasets.model import Dataset
from eap.datasets.validate import Finding
from eap.derive.adae import derive_adae
from eap.derive.adcm import derive_adcm
from eap.derive.adex import derive_adex
from eap.derive.adrs import derive_adrs
from eap.derive.adsl import adsl_gaps, derive_adsl
from eap.derive.adtte import derivable_endpoints, derive_adtte
from eap.derive.common import derivation_variables, latest_date
from eap.derive.inputs import derive_findings
from eap.errors import EapError
from eap.plans.study import DEFAULT_STUDY, Study, load_study

__all__ = [
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
    store: Callable[[Dataset], bool] | None = None,
) -> Derived:
    """Every ADaM dataset eap can derive from ``sdtm`` for ``study`` (default MM-024).

    ``store``, when given, is called with each dataset as soon as it is derived (in the
    order of ``Derived.datasets``); a dataset it takes (it returns True: written, say)
    is let go and left out of ``Derived.datasets``, so that a run holds one output at
    a time (ADSL stays in memory until the end: every other derivation reads it).

    ``cutoff`` None: the study's data cutoff, or, when the study has none, the latest
    complete date in the data (see :func:`data_cutoff`); ``Derived.cutoff`` and
    ``Derived.cutoff_source`` say which date was used and why.
    """
    say = progress or (lambda _: None)
    study = study or load_study(DEFAULT_STUDY)
    out: dict[str, Dataset] = {}

    def keep(ds: Dataset) -> None:
        if store is None or not store(ds):
            out[ds.name] = ds

    skipped: dict[str, str] = {}
    findings = derive_findings(sdtm, study)
    blocking = [f for f in findings if f.check == "subject-not-in-dm"]
    if blocking:
        return Derived({}, {"all": "subjects absent from DM (see findings)"}, tuple(findings))
    # Each derivation reads only the variables the rules use (all of DM, AE and CM);
    # a dataset read lazily from Parquet is read in part, when used, and let go.
    sdtm = Projected(sdtm, derivation_variables(study))
    cut, source = data_cutoff(sdtm, cutoff, study)
    say("ADSL")
    adsl = derive_adsl(sdtm, cut, study=study)
    keep(adsl)
    for name, why in adsl_gaps(adsl.frame, sdtm, study).items():
        skipped[f"ADSL.{name}"] = why
    if "AE" in sdtm and "TRTSDT" in adsl.frame.columns:
        say("ADAE")
        keep(derive_adae(sdtm, adsl, study=study, cutoff=cut))
    else:
        skipped["ADAE"] = "no AE dataset" if "AE" not in sdtm else "no first dose (ADSL.TRTSDT)"
    if "CM" in sdtm:
        say("ADCM")
        keep(derive_adcm(sdtm, adsl, study=study, cutoff=cut))
    else:
        skipped["ADCM"] = "no CM dataset"
    drug = study.treatments.study_drug
    if "EX" in sdtm and _has_records(sdtm, "EX", pl.col("EXTRT") == drug):
        say("ADEX")
        keep(derive_adex(sdtm, adsl, cut, study=study))
    else:
        skipped["ADEX"] = f"no EX records of the study drug {drug}"
    _adtte(sdtm, cut, study, adsl, say, keep, skipped)
    if study.response is None:
        skipped["ADRS"] = f"study {study.id} defines no response criteria ([response])"
    elif study.response.dataset not in sdtm:
        skipped["ADRS"] = f"no {study.response.dataset} dataset"
    else:
        say("ADRS")
        keep(derive_adrs(sdtm, cut, study=study))
    return Derived(out, skipped, tuple(findings), cut, source)


def _has_records(sdtm: Mapping[str, Dataset], name: str, condition: pl.Expr) -> bool:
    """True when a record of dataset ``name`` meets ``condition`` (read lazily)."""
    return bool(scan(sdtm, name).select(condition.any()).collect().item())


def _adtte(
    sdtm: Mapping[str, Dataset],
    cut: dt.date,
    study: Study,
    adsl: Dataset,
    say: Callable[[str], None],
    keep: Callable[[Dataset], None],
    skipped: dict[str, str],
) -> None:
    """ADTTE with every endpoint whose datasets are present; the others named in skipped."""
    if not study.endpoints:
        skipped["ADTTE"] = f"study {study.id} defines no time-to-event endpoints ([endpoints])"
        return
    ready, lacking = derivable_endpoints(study, sdtm)
    if ready:
        say("ADTTE")
        keep(derive_adtte(sdtm, cut, study=study, adsl=adsl, paramcds=ready))
    for paramcd, absent in lacking.items():
        key = "ADTTE" if not ready else f"ADTTE {paramcd}"
        text = f"{paramcd}: no {', '.join(absent)} dataset"
        skipped[key] = f"{skipped[key]}; {text}" if key in skipped else text
