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
from tests.tiny_study import one_arm_study

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
        one_arm_study()
        + """
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


def test_adae_filters_that_do_not_fit_name_the_study_file_field(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(
        one_arm_study()
        + """
[adae]
always_emergent = "AESPECIAL == 'Y'"

[adae.flags.XFL]
label = "X"
where = "AEXYZ == 'Y'"
"""
    )
    study = load_study(tmp_path)
    ae = AE.filter(pl.col("USUBJID") == "A")
    with pytest.raises(PlanError) as info:
        derive_adae(_sdtm(AE=ae), ADSL, study=study)
    assert (info.value.file, info.value.variable) == (
        str(tmp_path / "study.toml"),
        "adae.always_emergent",
    )
    with pytest.raises(PlanError) as info:
        derive_adae(_sdtm(AE=ae), ADSL, study=study, always_emergent=None)
    assert (info.value.file, info.value.variable) == (
        str(tmp_path / "study.toml"),
        "adae.flags.XFL.where",
    )


def test_unknown_ae_subjects_name_the_first_five() -> None:
    ids = ["A", "F", "E", "D", "C", "B", "G"]
    ae = pl.DataFrame(
        {
            "USUBJID": ids,
            "AESEQ": [1] * 7,
            "AEDECOD": ["X"] * 7,
            "AESTDTC": ["2020-01-02"] * 7,
        }
    )
    with pytest.raises(EapError) as info:
        derive_adae(_sdtm(AE=ae), ADSL)
    assert (info.value.rows, info.value.found) == ([2, 3, 4, 5, 6, 7], "B, C, D, E, F")


def test_a_study_filter_that_does_not_fit_says_what_was_expected_and_found() -> None:
    from eap.derive.common import where

    with pytest.raises(PlanError) as info:
        where("AGE = 1", ["AGE"], file="study.toml", field="adsl.flags.X.where")
    assert str(info.value) == (
        "study.toml: adsl.flags.X.where: filter 'AGE = 1' does not fit the data: cannot read "
        "the filter at character 4; expected VAR == 'value', !=, <, <=, >, >=, in (...), "
        "is [not] null, and, or, not, parentheses, found ' = 1'"
    )
    with pytest.raises(PlanError) as info:
        where("SEX == 'F'", ["AGE"], file="study.toml", field="f")
    # Without a found value the unknown variable's name is given.
    assert (info.value.expected, info.value.found) == ("one of AGE", "SEX")


def test_adam_metadata_labels_lengths_and_formats() -> None:
    from eap.derive.common import as_adam

    frame = pl.DataFrame(
        {
            "USUBJID": ["A"],
            "TRTSDT": [D(2020, 1, 1)],
            "AGE": [60],
            "XLONG": ["x"],
            "XBARE": [1.5],
        }
    )
    ds = as_adam(
        "ADSL", "Subject-Level", frame, {"XLONG": "A label longer than forty characters, cut"}
    )
    meta = {c.name: c for c in ds.columns}
    # From the ADSL specification; else the given label (40 characters at most); else
    # the name.
    assert meta["USUBJID"].label == "Unique Subject Identifier"
    assert meta["XLONG"].label == "A label longer than forty characters, cu"
    assert meta["XBARE"].label == "XBARE"
    # A variable another specification declares (ADSL's TRTSDT, AE's AELLT) has its label
    # there in any ADaM dataset.
    adae = as_adam("ADAE", "AE", pl.DataFrame({"TRTSDT": [D(2020, 1, 1)], "AELLT": ["x"]}), {})
    assert [c.label for c in adae.columns] == [
        "Date of First Exposure to Treatment",
        "Lowest Level Term",
    ]
    assert (meta["TRTSDT"].kind, meta["TRTSDT"].length, meta["TRTSDT"].display_format) == (
        "date",
        8,
        "DATE9.",
    )
    assert (meta["AGE"].kind, meta["AGE"].length, meta["AGE"].display_format) == (
        "integer",
        8,
        None,
    )
    assert (meta["XLONG"].kind, meta["XLONG"].display_format) == ("string", None)


def test_latest_date_skips_a_dataset_without_subjects_sorted_first() -> None:
    from eap.derive.common import latest_date

    sdtm = _sdtm(
        AAA=pl.DataFrame({"XXDTC": ["2030-01-01"]}),
        DM=pl.DataFrame({"USUBJID": ["A"], "RFSTDTC": ["2020-01-05"]}),
    )
    assert latest_date(sdtm) == (D(2020, 1, 5), "DM.RFSTDTC")
