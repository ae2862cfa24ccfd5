"""The errors the derivations raise, with the exact message a user reads: the dataset
or study file and field, the rows at fault (1-based), what was expected and found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive.adae import derive_adae
from eap.derive.adex import derive_adex
from eap.derive.adrs import derive_adrs
from eap.derive.adsl import derive_adsl
from eap.derive.adtte import derive_adtte
from eap.errors import EapError, PlanError
from eap.plans import load_study

D = dt.date
CUTOFF = D(2020, 1, 1)
MM024 = load_study("mm024")
PILOT = load_study("cdisc-pilot")
ADSL = Dataset.from_frame(
    "ADSL",
    pl.DataFrame(
        {
            "STUDYID": ["X"],
            "USUBJID": ["A"],
            "SAFFL": ["Y"],
            "TRTSDT": [D(2020, 1, 1)],
            "TRTEDT": [D(2020, 1, 31)],
        }
    ),
)
DM = pl.DataFrame({"STUDYID": ["X"], "USUBJID": ["A"], "RFXSTDTC": ["2020-01-01"]})
RS = {"USUBJID": ["A"], "RSCAT": ["IMWG"], "RSTESTCD": ["OVRLRESP"]}


def _sdtm(**frames: pl.DataFrame) -> dict[str, Dataset]:
    return {name: Dataset.from_frame(name, frame) for name, frame in frames.items()}


AE = pl.DataFrame(
    {
        "USUBJID": ["A", "B", "C", "B"],
        "AESEQ": [1, 1, 1, 2],
        "AEDECOD": ["X"] * 4,
        "AESTDTC": ["2020-01-02"] * 4,
    }
)

CASES: list[tuple[str, type[EapError], Callable[[], object], str]] = [
    (
        "adsl-no-dm",
        EapError,
        lambda: derive_adsl(_sdtm(), CUTOFF),
        "DM: DM is required to derive ADSL; expected a DM dataset",
    ),
    (
        "adae-no-ae",
        EapError,
        lambda: derive_adae(_sdtm(), ADSL),
        "AE: AE is required to derive ADAE; expected an AE dataset",
    ),
    (
        "adae-unknown-subjects",
        EapError,
        lambda: derive_adae(_sdtm(AE=AE), ADSL),
        "AE.USUBJID (rows 2, 3, 4): AE records of subjects absent from ADSL; "
        "expected every AE subject in DM/ADSL, found B, C",
    ),
    (
        "adex-no-ex",
        EapError,
        lambda: derive_adex(_sdtm(), ADSL, CUTOFF),
        "EX: EX is required to derive ADEX; expected an EX dataset",
    ),
    (
        "adrs-no-rs",
        EapError,
        lambda: derive_adrs(_sdtm(DM=DM), CUTOFF),
        "RS: RS is required to derive ADRS; expected an RS dataset",
    ),
    (
        "adrs-no-response",
        PlanError,
        lambda: derive_adrs(_sdtm(DM=DM), CUTOFF, study=PILOT),
        f"{PILOT.file}: response: the study defines no response criteria; "
        "expected a [response] section",
    ),
    (
        "adrs-no-date",
        PlanError,
        lambda: derive_adrs(_sdtm(RS=pl.DataFrame(RS | {"RSSTRESC": ["CR"]})), CUTOFF),
        f"{MM024.file}: response.date: RS has no variable RSDTC; "
        "expected one of USUBJID, RSCAT, RSTESTCD, RSSTRESC, STUDYID, found RSDTC",
    ),
    (
        "adrs-no-result",
        PlanError,
        lambda: derive_adrs(_sdtm(RS=pl.DataFrame(RS | {"RSDTC": ["2020-01-01"]})), CUTOFF),
        f"{MM024.file}: response.dataset: RS has no variable RSSTRESC; "
        "expected one of USUBJID, RSCAT, RSTESTCD, RSDTC, STUDYID, found RSSTRESC",
    ),
    (
        "adtte-no-dm",
        EapError,
        lambda: derive_adtte(_sdtm(), CUTOFF),
        "DM: DM is required to derive ADTTE",
    ),
    (
        "adtte-unknown-endpoint",
        PlanError,
        lambda: derive_adtte(_sdtm(DM=DM), CUTOFF, paramcds=["PFS", "EFS", "XYZ"]),
        f"{MM024.file}: endpoints: unknown endpoint; "
        "expected one of PFS, TTP, OS, DOR, FUP, found EFS, XYZ",
    ),
    (
        "adtte-no-endpoints",
        PlanError,
        lambda: derive_adtte(_sdtm(DM=DM), CUTOFF, study=PILOT),
        f"{PILOT.file}: endpoints: the study defines no time-to-event endpoints; "
        "expected [endpoints.PARAMCD] sections",
    ),
    (
        "adtte-endpoint-without-its-dataset",
        EapError,
        lambda: derive_adtte(_sdtm(DM=DM), CUTOFF, paramcds=["PFS"]),
        "RS: endpoint PFS needs the RS dataset; expected a RS dataset",
    ),
]


@pytest.mark.parametrize(
    ("kind", "call", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_derivation_error_message(
    kind: type[EapError], call: Callable[[], object], message: str
) -> None:
    with pytest.raises(kind) as info:
        call()
    assert str(info.value) == message


def test_no_endpoint_derivable_names_each_endpoint_and_what_it_lacks(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "study.toml").write_text(
        """
[study]
id = "T"
title = "T"

[treatments]
study_drug = "DRUG"

[arms]
planned = "TRT01P"
actual = "TRT01A"
levels = [{ value = "A" }]

[populations.all]
where = "ITTFL == 'Y'"

[endpoints.TTR]
param = "Time to relapse"
origin = { label = "start", dataset = "DM", date = "RFXSTDTC" }
events = [{ name = "R", description = "Relapse", dataset = "MB", date = "MBDTC" }]

[endpoints.TTX]
param = "Time to X"
origin = { label = "start", dataset = "EX", date = "EXSTDTC" }
events = [{ name = "X", description = "X", dataset = "LB", date = "LBDTC" }]
"""
    )
    with pytest.raises(EapError) as info:
        derive_adtte(_sdtm(DM=DM), CUTOFF, study=load_study(folder))
    assert str(info.value) == (
        "MB: no endpoint of the study can be derived from these data; "
        "expected the datasets of at least one endpoint, found TTR: no MB; TTX: no EX, LB"
    )
