"""The generic rule kinds that study.toml parameterises, each at both sides of its
threshold, with expected values worked out by hand; and the errors a study file gets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive import data_cutoff, derive_all
from eap.derive.adae import derive_adae
from eap.derive.adsl import derive_adsl
from eap.derive.adtte import derive_adtte
from eap.derive.common import latest_date
from eap.errors import EapError, PlanError
from eap.plans import load_study
from tests.tiny_study import imwg_subject, one_arm_study

D = dt.date
MM024 = load_study("mm024")

HEAD = one_arm_study()


def _study(tmp_path: Path, body: str) -> Path:
    (tmp_path / "study.toml").write_text(HEAD + body)
    return tmp_path


def _sdtm(**frames: pl.DataFrame) -> dict[str, Dataset]:
    return {name: Dataset.from_frame(name, frame) for name, frame in frames.items()}


# --------------------------------------------------------------------------- data cutoff


def test_latest_date_rule() -> None:
    sdtm = _sdtm(
        DM=pl.DataFrame(
            {
                "USUBJID": ["A", "B"],
                "BRTHDTC": ["2030-01-01", None],  # never an event: left out
                "RFSTDTC": ["2020-01-01", "2020-02-01T08:30"],  # the time part is ignored
            }
        ),
        AE=pl.DataFrame(
            {
                "USUBJID": ["A", "A"],
                "AESTDTC": ["2020-03", "2020-02-10"],  # partial dates are skipped
                "AEENDTC": ["2020-12", None],
            }
        ),
        TS=pl.DataFrame({"TSPARMCD": ["DCUTDTC"], "TSVALDTC": ["2031-01-01"]}),  # no USUBJID
    )
    assert latest_date(sdtm) == (D(2020, 2, 10), "AE.AESTDTC")
    assert latest_date(_sdtm(DM=pl.DataFrame({"USUBJID": ["A"], "RFSTDTC": ["2020"]}))) is None


def test_cutoff_given_then_the_studys_then_the_latest_date() -> None:
    sdtm = _sdtm(DM=pl.DataFrame({"USUBJID": ["A"], "RFSTDTC": ["2020-01-05"]}))
    assert data_cutoff(sdtm, D(2019, 1, 1), MM024) == (D(2019, 1, 1), "given")
    assert data_cutoff(sdtm, None, MM024) == (
        D(2014, 11, 5),
        f"study MM-024: {MM024.file}",
    )
    pilot = load_study("cdisc-pilot")
    assert data_cutoff(sdtm, None, pilot) == (
        D(2020, 1, 5),
        "latest date in the data (DM.RFSTDTC)",
    )
    empty = _sdtm(
        DM=pl.DataFrame(
            {"USUBJID": ["A"], "RFSTDTC": [None]},
            schema={"USUBJID": pl.String, "RFSTDTC": pl.String},
        )
    )
    with pytest.raises(EapError, match=r"study\.toml: study\.cutoff: no data cutoff"):
        data_cutoff(empty, None, pilot)


# --------------------------------------------------------------------------- ADAE


def _ae_window(study_days: int | None, offsets: list[int]) -> list[str | None]:
    """TRTEMFL of AEs starting ``offsets`` days after the last dose (2020-01-31)."""
    last = D(2020, 1, 31)
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * len(offsets),
            "AESEQ": list(range(1, len(offsets) + 1)),
            "AEDECOD": ["X"] * len(offsets),
            "AESTDTC": [(last + dt.timedelta(days=d)).isoformat() for d in offsets],
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame({"USUBJID": ["A"], "TRTSDT": [D(2020, 1, 1)], "TRTEDT": [last]}),
    )
    frame = derive_adae(_sdtm(AE=ae), adsl, study=MM024, end_window_days=study_days).frame
    return frame.sort("AESEQ")["TRTEMFL"].to_list()


def test_mm024_window_day_28_is_emergent_day_29_is_not() -> None:
    assert MM024.te_window_days == 28
    # 2020-01-31 + 28 = 2020-02-28 (Y); + 29 = 2020-02-29 (N, 2020 is a leap year).
    assert _ae_window(28, [0, 28, 29]) == ["Y", "Y", None]


def test_no_window_every_ae_from_the_first_dose_is_emergent() -> None:
    # The CDISC pilot's rule (te_window_days absent): ASTDT >= TRTSDT only.
    assert load_study("cdisc-pilot").te_window_days is None
    assert _ae_window(None, [0, 29, 400, -31]) == ["Y", "Y", "Y", None]


def test_ae_flags_action_and_phase_from_the_study(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[adae]
te_window_days = 0
action_variable = "ACTDRG"
always_emergent = "AECAT == 'SPECIAL'"

[adae.flags.SPECFL]
label = "Special Interest Flag"
where = "AECAT == 'SPECIAL'"

[adae.period]
variable = "APERIOD"
label = "Period at Onset"
before = "RUN-IN"
starts = [{ date = "RANDDT", value = "DOUBLE-BLIND" }, { date = "OLEDT", value = "OPEN-LABEL" }]
""",
    )
    study = load_study(folder)
    ae = pl.DataFrame(
        {
            "USUBJID": ["A"] * 4,
            "AESEQ": [1, 2, 3, 4],
            "AEDECOD": ["X", "Y", "Z", "W"],
            "AECAT": [None, "SPECIAL", "SPECIAL", None],
            "AEACN": ["DRUG WITHDRAWN", None, "DOSE REDUCED", "DOSE NOT CHANGED"],
            # before randomisation; after the last dose; before the first dose; open label
            "AESTDTC": ["2020-01-05", "2020-03-01", "2019-12-01", "2020-02-15"],
        }
    )
    adsl = Dataset.from_frame(
        "ADSL",
        pl.DataFrame(
            {
                "USUBJID": ["A"],
                "TRTSDT": [D(2020, 1, 1)],
                "TRTEDT": [D(2020, 2, 20)],
                "RANDDT": [D(2020, 1, 10)],
                "OLEDT": [D(2020, 2, 1)],
            }
        ),
    )
    frame = derive_adae(_sdtm(AE=ae), adsl, study=study)
    rows = {r["AESEQ"]: r for r in frame.frame.iter_rows(named=True)}
    assert [rows[i]["TRTEMFL"] for i in (1, 2, 3, 4)] == [
        "Y",  # within treatment
        "Y",  # 10 days after the last dose, outside the 0-day window, but always emergent
        None,  # always-emergent only from the first dose on
        "Y",
    ]
    assert [rows[i]["SPECFL"] for i in (1, 2, 3, 4)] == [None, "Y", "Y", None]
    assert [rows[i]["ACTDRG"] for i in (1, 2, 3, 4)] == ["WITHDRAWN", "NONE", "REDUCED", "NONE"]
    assert [rows[i]["APERIOD"] for i in (1, 2, 3, 4)] == [
        "RUN-IN",
        "OPEN-LABEL",
        "RUN-IN",
        "OPEN-LABEL",
    ]
    labels = {c.name: c.label for c in frame.columns}
    assert labels["ACTDRG"] == "Action Taken with Drug"
    assert labels["SPECFL"] == "Special Interest Flag"


# --------------------------------------------------------------------------- ADSL


def test_adsl_study_variables_groups_flags_and_order(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[adsl]
order = ["USUBJID", "NPRIOR", "AGEGR1"]

[adsl.variables.RANDDT]
label = "Randomisation Date"
dataset = "DS"
where = "DSDECOD == 'RANDOMIZED'"
value = "DSSTDTC"
date = "DSSTDTC"

[adsl.variables.LASTREAS]
label = "Last Disposition Reason"
kind = "last"
dataset = "DS"
value = "DSTERM"
date = "DSSTDTC"
strip_prefix = "REASON: "

[adsl.variables.NPRIOR]
label = "Number of Prior Therapies"
kind = "count"
dataset = "CM"
where = "CMCAT == 'PRIOR'"

[adsl.variables.PRIPLAFL]
label = "Prior Platinum"
kind = "exists"
dataset = "CM"
where = "CMCAT == 'PRIOR'"
contains = { CMTRT = "platin" }

[adsl.variables.WEIGHTBL]
label = "Weight"
dataset = "VS"
value = "VSSTRESN"

[adsl.groups.AGEGR1]
label = "Age Group"
levels = [{ value = "<65", where = "AGE < 65" }, { value = ">=65", where = "AGE >= 65" }]

[adsl.flags.OLDFL]
label = "Older Flag"
where = "AGEGR1 == '>=65' and NPRIOR >= 1"
""",
    )
    sdtm = _sdtm(
        DM=pl.DataFrame({"USUBJID": ["A", "B", "C"], "AGE": [64.0, 65.0, None], "ARMCD": "X"}),
        DS=pl.DataFrame(
            {
                "USUBJID": ["A", "A", "A", "B"],
                "DSDECOD": ["RANDOMIZED", "OTHER", "OTHER", "RANDOMIZED"],
                "DSTERM": ["R", "REASON: MOVED", "REASON: AFTER CUTOFF", "R"],
                # B's randomisation is after the cutoff (2020-06-30): not seen.
                "DSSTDTC": ["2020-01-10", "2020-05-01", "2020-07-01", "2020-07-01"],
            }
        ),
        CM=pl.DataFrame(
            {
                "USUBJID": ["A", "A", "B"],
                "CMCAT": ["PRIOR", "PRIOR", "CONCOMITANT"],
                "CMTRT": ["CISPLATIN", "DOCETAXEL", "CARBOPLATIN"],
            }
        ),
    )
    adsl = derive_adsl(sdtm, D(2020, 6, 30), study=load_study(folder)).frame
    assert adsl.columns[:3] == ["USUBJID", "NPRIOR", "AGEGR1"]
    rows = {r["USUBJID"]: r for r in adsl.iter_rows(named=True)}
    assert [rows[u]["RANDDT"] for u in "ABC"] == [D(2020, 1, 10), None, None]
    # The last record up to the cutoff, without its prefix (B's only record is after it).
    assert [rows[u]["LASTREAS"] for u in "ABC"] == ["MOVED", None, None]
    assert [rows[u]["NPRIOR"] for u in "ABC"] == [2, 0, 0]
    # B's carboplatin is concomitant, not prior.
    assert [rows[u]["PRIPLAFL"] for u in "ABC"] == ["Y", "N", "N"]
    # 64 < 65; 65 >= 65; a missing age falls in no group.
    assert [rows[u]["AGEGR1"] for u in "ABC"] == ["<65", ">=65", None]
    assert [rows[u]["OLDFL"] for u in "ABC"] == ["N", "N", "N"]
    # No VS dataset: WEIGHTBL is not derived, and derive_all says why.
    assert "WEIGHTBL" not in adsl.columns
    result = derive_all(sdtm, D(2020, 6, 30), study=load_study(folder))
    assert result.skipped["ADSL.WEIGHTBL"] == "no VS dataset"


# --------------------------------------------------------------------------- ADTTE


def _death_gap_sdtm(death: str) -> dict[str, Dataset]:
    dm = pl.DataFrame(
        {
            "STUDYID": ["X"],
            "USUBJID": ["S"],
            "RFXSTDTC": ["2013-01-01"],
            "DTHDTC": [death],
        }
    )
    rs = pl.DataFrame(
        {
            "USUBJID": ["S"],
            "RSSEQ": [1],
            "RSCAT": ["IMWG"],
            "RSTESTCD": ["OVRLRESP"],
            "RSSTRESC": ["SD"],
            "RSDTC": ["2013-03-01"],
        }
    )
    return _sdtm(DM=dm, RS=rs)


def test_death_63_days_after_the_last_assessment_counts_64_censors() -> None:
    assert MM024.tte_sources["DEATH_NO_GAP"].max_gap_days == 63
    # Last adequate assessment 2013-03-01; + 63 days = 2013-05-03 (28 + 30 + 3 + 2).
    at63 = derive_adtte(_death_gap_sdtm("2013-05-03"), D(2014, 11, 5)).frame
    pfs = at63.filter(pl.col("PARAMCD") == "PFS").row(0, named=True)
    assert (pfs["ADT"], pfs["CNSR"], pfs["EVNTDESC"]) == (
        D(2013, 5, 3),
        0,
        "Death without prior progression",
    )
    at64 = derive_adtte(_death_gap_sdtm("2013-05-04"), D(2014, 11, 5)).frame
    pfs = at64.filter(pl.col("PARAMCD") == "PFS").row(0, named=True)
    assert (pfs["ADT"], pfs["CNSR"], pfs["SRCSEQ"]) == (D(2013, 3, 1), 1, 1)
    # OS counts every death.
    os_ = at64.filter(pl.col("PARAMCD") == "OS").row(0, named=True)
    assert (os_["ADT"], os_["CNSR"]) == (D(2013, 5, 4), 0)


def test_generic_sources_ties_pick_before_cutoff_kinds_and_units(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[event_sources.RELAPSE]
description = "Relapse"
dataset = "MB"
where = "MBTESTCD == 'RELAPSE'"
date = "MBDTC"
seq = "MBSEQ"

[event_sources.DEATH]
description = "Death"
dataset = "DM"
date = "DTHDTC"

[censor_sources.LASTNEG]
cnsr = 1
description = "Last negative test before relapse"
dataset = "MB"
where = "MBTESTCD == 'TEST' and MBSTRESC == 'NEG'"
date = "MBDTC"
pick = "last"
before = "RELAPSE"
seq = "MBSEQ"

[censor_sources.END]
kind = "cutoff"
cnsr = 2
description = "Followed to the cutoff"

[endpoints.TTR]
param = "Time to Relapse or Death (weeks)"
unit = "WEEKS"
origin = { label = "randomisation", dataset = "DM", date = "RFSTDTC" }
events = ["RELAPSE", "DEATH"]
censors = ["LASTNEG", "END"]
""",
    )
    dm = pl.DataFrame(
        {
            "STUDYID": ["X"] * 4,
            "USUBJID": ["TIE", "NEG", "NONE", "LATE"],
            "RFSTDTC": ["2020-01-01"] * 4,
            "DTHDTC": ["2020-02-01", None, None, None],
        }
    )
    mb = pl.DataFrame(
        {
            "USUBJID": ["TIE", "NEG", "NEG", "NEG", "NEG", "LATE"],
            "MBSEQ": [1, 1, 2, 3, 4, 1],
            "MBTESTCD": ["RELAPSE", "TEST", "TEST", "TEST", "RELAPSE", "RELAPSE"],
            "MBSTRESC": [None, "NEG", "NEG", "NEG", None, None],
            "MBDTC": [
                "2020-02-01",
                "2020-01-15",
                "2020-02-12",
                "2020-03-01",  # the day of the relapse: not before it
                "2020-03-01",
                "2020-08-01",  # after the cutoff (2020-06-30): never seen
            ],
        }
    )
    adtte = derive_adtte(_sdtm(DM=dm, MB=mb), D(2020, 6, 30), study=load_study(folder)).frame
    rows = {r["USUBJID"]: r for r in adtte.iter_rows(named=True)}
    # Relapse and death on the same day: the source listed first (RELAPSE) wins.
    assert (rows["TIE"]["EVNTDESC"], rows["TIE"]["SRCSEQ"]) == ("Relapse", 1)
    # Relapse 2020-03-01: day 60 + 1 = 61, in weeks 61 / 7.
    assert (rows["NEG"]["ADT"], rows["NEG"]["CNSR"]) == (D(2020, 3, 1), 0)
    assert rows["NEG"]["AVAL"] == pytest.approx(61 / 7)
    assert rows["NEG"]["AVALU"] == "WEEKS"
    # No event: the first censoring with a date; no negative test: the cutoff (CNSR 2).
    assert (rows["NONE"]["ADT"], rows["NONE"]["CNSR"]) == (D(2020, 6, 30), 2)
    assert (rows["LATE"]["ADT"], rows["LATE"]["CNSR"]) == (D(2020, 6, 30), 2)


def test_last_negative_test_before_relapse_is_the_censoring_date(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[event_sources.RELAPSE]
description = "Relapse"
dataset = "MB"
where = "MBTESTCD == 'RELAPSE'"
date = "MBDTC"

[censor_sources.LASTNEG]
cnsr = 1
description = "Last negative test before relapse"
dataset = "MB"
where = "MBTESTCD == 'TEST'"
date = "MBDTC"
pick = "last"
before = "RELAPSE"
seq = "MBSEQ"

[endpoints.TTR]
param = "Time to relapse, censoring only"
origin = { label = "randomisation", dataset = "DM", date = "RFSTDTC" }
censors = ["LASTNEG"]
""",
    )
    dm = pl.DataFrame({"STUDYID": ["X"], "USUBJID": ["S"], "RFSTDTC": ["2020-01-01"]})
    mb = pl.DataFrame(
        {
            "USUBJID": ["S"] * 4,
            "MBSEQ": [1, 2, 3, 4],
            "MBTESTCD": ["TEST", "TEST", "RELAPSE", "TEST"],
            "MBDTC": ["2020-01-15", "2020-02-12", "2020-03-01", "2020-03-01"],
        }
    )
    row = derive_adtte(_sdtm(DM=dm, MB=mb), D(2020, 6, 30), study=load_study(folder)).frame.row(
        0, named=True
    )
    # Tests strictly before the relapse of 2020-03-01: the last is 2020-02-12 (MBSEQ 2).
    assert (row["ADT"], row["SRCSEQ"], row["CNSR"]) == (D(2020, 2, 12), 2, 1)
    # Months of 365.25 / 12 days: 2020-01-01 .. 2020-02-12 is day 43.
    assert row["AVAL"] == 43 / 30.4375


# --------------------------------------------------------------------------- study files


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (
            '[endpoints.X]\nparam = "X"\norigin = { label = "o", dataset = "DM", date = "D" }\n'
            'events = ["NOPE"]\n',
            "endpoints.X.events",
            "invalid field",
        ),
        (
            '[event_sources.E]\ndescription = "e"\ndataset = "DM"\ndate = "D"\ncnsr = 1\n',
            "event_sources.E.cnsr",
            "invalid field",
        ),
        (
            '[event_sources.A]\ndescription = "a"\ndataset = "DM"\ndate = "D"\nbefore = "B"\n'
            '[event_sources.B]\ndescription = "b"\ndataset = "DM"\ndate = "D"\nbefore = "A"\n'
            '[endpoints.X]\nparam = "X"\norigin = { label = "o", dataset = "DM", date = "D" }\n'
            'events = ["A"]\n',
            "endpoints.X",
            "sources refer to each other in a circle",
        ),
        (
            '[censor_sources.T]\nkind = "truncation"\ndescription = "t"\n'
            '[endpoints.X]\nparam = "X"\norigin = { label = "o", dataset = "DM", date = "D" }\n'
            'censors = ["T"]\n',
            "endpoints.X.truncate",
            "a truncation source in an endpoint without truncate",
        ),
        (
            '[event_sources.E]\ndescription = "e"\ndataset = "DM"\ndate = "D"\nwhen = "x"\n',
            "event_sources.E.when",
            "unknown field",
        ),
        (
            '[endpoints.X]\nparam = "X"\nunit = "FORTNIGHTS"\n'
            'origin = { label = "o", dataset = "DM", date = "D" }\n'
            'events = [{ name = "E", description = "e", dataset = "DM", date = "D" }]\n',
            "endpoints.X.unit",
            "invalid field",
        ),
        (
            '[response]\ncriteria = "R"\nwhere = "X == 1"\norder = ["CR", "PR"]\n'
            'responders = ["CR"]\nprogression = "PD"\n',
            "response.progression",
            "invalid field",
        ),
        (
            '[adsl.variables.V]\ndataset = "DS"\nkind = "median"\nvalue = "X"\n',
            "adsl.variables.V.kind",
            "invalid field",
        ),
        ("[adex]\ncycle_days = 0\n", "adex.cycle_days", "invalid field"),
        ("[adex]\ncycle_days = 28.5\n", "adex.cycle_days", "invalid field"),
    ],
)
def test_study_file_errors_name_the_file_and_field(
    tmp_path: Path, body: str, field: str, problem: str
) -> None:
    folder = _study(tmp_path, body)
    with pytest.raises(PlanError) as info:
        load_study(folder)
    assert info.value.file == str(folder / "study.toml")
    assert info.value.variable == field
    assert info.value.problem == problem


def test_a_filter_that_does_not_fit_the_data_names_the_file_and_field(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[event_sources.E]
description = "e"
dataset = "DM"
where = "DTHFL = 'Y'"
date = "DTHDTC"

[endpoints.X]
param = "X"
origin = { label = "o", dataset = "DM", date = "RFSTDTC" }
events = ["E"]
""",
    )
    dm = pl.DataFrame(
        {
            "STUDYID": ["X"],
            "USUBJID": ["S"],
            "RFSTDTC": ["2020-01-01"],
            "DTHFL": ["Y"],
            "DTHDTC": ["2020-02-01"],
        }
    )
    with pytest.raises(PlanError) as info:
        derive_adtte(_sdtm(DM=dm), D(2020, 6, 30), study=load_study(folder))
    assert info.value.file == str(folder / "study.toml")
    assert info.value.variable == "event_sources.E.where (endpoint X)"


def _therapy_sdtm(therapy: str) -> dict[str, Dataset]:
    frames = imwg_subject(["PR", "PD"], ["2013-02-26", "2013-03-26"])
    cm = pl.DataFrame(
        {
            "USUBJID": ["S"],
            "CMCAT": ["SUBSEQUENT ANTI-MYELOMA THERAPY"],
            "CMTRT": ["BORTEZOMIB"],
            "CMSTDTC": [therapy],
        }
    )
    return _sdtm(**frames, CM=cm)


def test_truncation_ignores_records_on_or_after_the_new_therapy() -> None:
    # Therapy the day after the PD (2013-03-27): the PD counts.
    after = derive_adtte(_therapy_sdtm("2013-03-27"), D(2014, 11, 5)).frame
    pfs = after.filter(pl.col("PARAMCD") == "PFS").row(0, named=True)
    assert (pfs["ADT"], pfs["CNSR"], pfs["SRCSEQ"]) == (D(2013, 3, 26), 0, 2)
    # Therapy the day of the PD: the PD is ignored; censored at the last adequate
    # assessment before the therapy (2013-02-26, RSSEQ 1) with the truncation code 3.
    same = derive_adtte(_therapy_sdtm("2013-03-26"), D(2014, 11, 5)).frame
    pfs = same.filter(pl.col("PARAMCD") == "PFS").row(0, named=True)
    assert (pfs["ADT"], pfs["CNSR"], pfs["SRCSEQ"]) == (D(2013, 2, 26), 3, 1)
    # Overall survival has no truncation; duration of response starts at the PR.
    dor = same.filter(pl.col("PARAMCD") == "DOR").row(0, named=True)
    assert (dor["STARTDT"], dor["ADT"], dor["CNSR"]) == (D(2013, 2, 26), D(2013, 2, 26), 3)


def test_adex_cycle_days_is_a_whole_number_of_days_from_one(tmp_path: Path) -> None:
    # 0 is refused (above); 1 is the shortest cycle; absent: the protocol's.
    assert load_study(_study(tmp_path, "[adex]\ncycle_days = 1\n")).adex.cycle_days == 1
    assert load_study(_study(tmp_path, "[adex]\ncycle_days = 21\n")).adex.cycle_days == 21
    assert load_study(_study(tmp_path, "")).adex.cycle_days is None
