"""ADaM derivations: pure functions from SDTM datasets to analysis datasets.

``derive_all`` runs every derivation whose inputs are present and says which
ones it skipped and why; each module derives one dataset:

* adsl.py  ADSL  (DM; DS, EX, RS, LB, VS, CM, PR when present)
* adae.py  ADAE  (AE, SUPPAE, ADSL)
* adex.py  ADEX  (EX, DS, ADSL)
* adtte.py ADTTE (DM, RS; DS, SV, EX for dates known alive)
* adrs.py  ADRS  (RS)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from eap.datasets.model import Dataset
from eap.datasets.validate import Finding
from eap.derive.adae import derive_adae
from eap.derive.adex import derive_adex
from eap.derive.adrs import derive_adrs
from eap.derive.adsl import derive_adsl
from eap.derive.adtte import derive_adtte
from eap.derive.checks import input_findings

__all__ = [
    "Derived",
    "derive_adae",
    "derive_adex",
    "derive_adrs",
    "derive_adsl",
    "derive_adtte",
    "derive_all",
]


@dataclass(frozen=True)
class Derived:
    datasets: dict[str, Dataset]
    skipped: dict[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()


def derive_all(
    sdtm: Mapping[str, Dataset],
    cutoff: dt.date,
    progress: Callable[[str], None] | None = None,
) -> Derived:
    """Every ADaM dataset eap can derive from ``sdtm`` as of ``cutoff``."""
    say = progress or (lambda _: None)
    out: dict[str, Dataset] = {}
    skipped: dict[str, str] = {}
    findings = input_findings(sdtm)
    blocking = [f for f in findings if f.check == "subject-not-in-dm"]
    if blocking:
        return Derived({}, {"all": "subjects absent from DM (see findings)"}, tuple(findings))
    say("ADSL")
    adsl = derive_adsl(sdtm, cutoff)
    out["ADSL"] = adsl
    if "AE" in sdtm:
        say("ADAE")
        out["ADAE"] = derive_adae(sdtm, adsl)
    else:
        skipped["ADAE"] = "no AE dataset"
    drug = "LENALIDOMIDE"
    if "EX" in sdtm and (sdtm["EX"].frame["EXTRT"] == drug).any():
        say("ADEX")
        out["ADEX"] = derive_adex(sdtm, adsl, cutoff)
    else:
        skipped["ADEX"] = f"no EX records of {drug} (the protocol's dose-intensity rules need them)"
    if "RS" in sdtm:
        say("ADTTE")
        out["ADTTE"] = derive_adtte(sdtm, cutoff)
        say("ADRS")
        out["ADRS"] = derive_adrs(sdtm, cutoff)
    else:
        skipped["ADTTE"] = skipped["ADRS"] = "no RS dataset"
    return Derived(out, skipped, tuple(findings))
