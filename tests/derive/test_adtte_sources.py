"""ADTTE's sources beyond MM-024's own: the datasets each endpoint needs (and so which
endpoints the data allow), an origin that depends on itself, dates read from ADSL,
truncation rules that do not fit the data, and a truncation without an ``at`` source.
Expected values are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from eap.datasets.model import Dataset
from eap.derive.adsl import last_alive
from eap.derive.adtte import derivable_endpoints, derive_adtte, endpoint_datasets
from eap.engine.frames import collect, polars_tables
from eap.errors import PlanError
from eap.plans import load_study
from tests.tiny_study import one_arm_study

D = dt.date
CUTOFF = D(2020, 6, 30)
MM024 = load_study("mm024")

HEAD = one_arm_study()


def _study(tmp_path: Path, body: str) -> Path:
    (tmp_path / "study.toml").write_text(HEAD + body)
    return tmp_path


def _sdtm(**frames: pl.DataFrame) -> dict[str, Dataset]:
    return {name: Dataset.from_frame(name, frame) for name, frame in frames.items()}


DM = pl.DataFrame(
    {
        "STUDYID": ["X", "X"],
        "USUBJID": ["S1", "S2"],
        "RFSTDTC": ["2020-01-01", "2020-01-01"],
        "DTHDTC": ["2020-03-01", None],
    }
)


def test_datasets_each_mm024_endpoint_needs() -> None:
    needed = {
        paramcd: endpoint_datasets(endpoint, MM024.tte_sources)
        for paramcd, endpoint in MM024.endpoints.items()
    }
    # PFS: origin DM.RFXSTDTC, PD and the last adequate assessment in RS, death in DM
    # (its gap counted from LASTASMT, RS). The new-therapy truncation (CM) truncates
    # nothing without CM, so CM is not needed. OS: DM and ADSL.LSTALVDT. DOR: its
    # origin is the first response in RS. FUP: DS (enrollment, loss to follow-up, whose
    # date is ADSL.LSTALVDT), DM (death).
    assert needed == {
        "PFS": {"DM", "RS"},
        "TTP": {"DM", "RS"},
        "OS": {"DM", "ADSL"},
        "DOR": {"DM", "RS"},
        "FUP": {"DM", "DS", "ADSL"},
    }
    # With DM alone only OS can be derived (ADSL is derived from DM).
    ready, lacking = derivable_endpoints(MM024, _sdtm(DM=DM))
    assert ready == ["OS"]
    assert lacking == {"PFS": ["RS"], "TTP": ["RS"], "DOR": ["RS"], "FUP": ["DS"]}


def test_a_source_named_by_the_origin_is_needed_too(tmp_path: Path) -> None:
    study = load_study(
        _study(
            tmp_path,
            """
[event_sources.REL]
description = "Relapse"
dataset = "MB"
date = "MBDTC"
before = "LAB"

[censor_sources.LAB]
cnsr = 1
description = "Lab"
dataset = "LB"
date = "LBDTC"

[endpoints.X]
param = "X"
origin = { label = "o", dataset = "EX", date = "EXSTDTC", before = "REL" }
events = [{ name = "DTH", description = "Death", dataset = "DM", date = "DTHDTC" }]
""",
        )
    )
    # The origin (EX) is taken before REL (MB), which is taken before LAB (LB); REL is
    # no event or censoring of the endpoint, only the origin names it.
    assert endpoint_datasets(study.endpoints["X"], study.tte_sources) == {
        "EX",
        "DM",
        "MB",
        "LB",
    }


def test_an_origin_that_depends_on_itself_is_an_error(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[censor_sources.O]
kind = "origin"
cnsr = 1
description = "origin"

[endpoints.X]
param = "X"
origin = { label = "o", dataset = "DM", date = "RFSTDTC", before = "O" }
censors = ["O"]
""",
    )
    with pytest.raises(PlanError) as info:
        derive_adtte(_sdtm(DM=DM), CUTOFF, study=load_study(folder))
    assert str(info.value) == (
        f"{folder / 'study.toml'}: endpoints.X.origin: the origin depends on itself "
        "through its sources"
    )


def test_a_missing_date_names_the_endpoint_field_or_the_source(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[endpoints.X]
param = "X"
origin = { label = "o", dataset = "DM", date = "RFXSTDTC" }
events = [{ name = "E", description = "e", dataset = "DM", date = "DTHDTC" }]

[endpoints.Y]
param = "Y"
origin = { label = "o", dataset = "DM", date = "RFSTDTC" }
events = [{ name = "F", description = "f", dataset = "DM", date = "DSSTDTC" }]
""",
    )
    study = load_study(folder)
    with pytest.raises(PlanError) as info:
        derive_adtte(_sdtm(DM=DM), CUTOFF, study=study, paramcds=["X"])
    assert info.value.variable == "endpoints.X.origin.date"
    with pytest.raises(PlanError) as info:
        derive_adtte(_sdtm(DM=DM), CUTOFF, study=study, paramcds=["Y"])
    assert info.value.variable == "event_sources.F.date (endpoint Y)"


def test_dates_from_adsl_and_truncations_that_do_not_fit(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[event_sources.DEATH]
description = "Death"
dataset = "ADSL"
date = "ADSL.DTHDT"

[censor_sources.CUT]
kind = "cutoff"
cnsr = 1
description = "cutoff"

[censor_sources.TRUNC]
kind = "truncation"
cnsr = 3
description = "truncated"

[endpoints.A]
param = "A"
unit = "DAYS"
origin = { label = "o", dataset = "ADSL", date = "CUTOFFDT" }
events = ["DEATH"]
censors = ["CUT"]

# A truncation rule naming a variable CM lacks truncates nothing.
[endpoints.B]
param = "B"
unit = "DAYS"
origin = { label = "o", dataset = "DM", date = "RFSTDTC" }
truncate = { label = "t", dataset = "CM", where = "CMCAT == 'X'", date = "CMSTDTC" }
events = ["DEATH"]
censors = ["TRUNC", "CUT"]

# A truncation on an ADSL date; its source has no `at`: ADT is the origin.
[endpoints.C]
param = "C"
unit = "DAYS"
origin = { label = "o", dataset = "DM", date = "RFSTDTC" }
truncate = { label = "t", dataset = "ADSL", date = "DTHDT" }
events = ["DEATH"]
censors = ["TRUNC", "CUT"]
""",
    )
    cm = pl.DataFrame({"USUBJID": ["S1", "S2"], "CMSTDTC": ["2020-02-01", "2020-02-01"]})
    adtte = derive_adtte(_sdtm(DM=DM, CM=cm), CUTOFF, study=load_study(folder)).frame
    rows = {(r["PARAMCD"], r["USUBJID"]): r for r in adtte.iter_rows(named=True)}
    # A: both dates from ADSL (origin CUTOFFDT, event DTHDT). S1's death, 2020-03-01,
    # is 121 days before the origin 2020-06-30: AVAL -121 + 1 = -120 (nothing stops an
    # origin after the event); S2 is censored at the cutoff, day 1.
    assert (rows[("A", "S1")]["CNSR"], rows[("A", "S1")]["AVAL"]) == (0, -120.0)
    assert (rows[("A", "S2")]["CNSR"], rows[("A", "S2")]["AVAL"]) == (1, 1.0)
    # B: CM has no CMCAT, so no truncation: S1's death is an event (day 61 = 31 + 29 + 1).
    assert (rows[("B", "S1")]["CNSR"], rows[("B", "S1")]["AVAL"]) == (0, 61.0)
    assert rows[("B", "S2")]["CNSR"] == 1
    # C: truncated at S1's death (ADSL.DTHDT), so the death (on that day) is ignored and
    # S1 is censored at the origin (no `at`): day 1, CNSR 3. S2 is not truncated.
    assert (rows[("C", "S1")]["ADT"], rows[("C", "S1")]["CNSR"]) == (D(2020, 1, 1), 3)
    assert (rows[("C", "S2")]["ADT"], rows[("C", "S2")]["CNSR"]) == (CUTOFF, 1)


RELAPSE_STUDY = """
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
srcdom = "DS"
srcvar = "DSSTDTC"

[censor_sources.LAST]
cnsr = 1
description = "Last test"
dataset = "MB"
date = "MBDTC"
pick = "last"
seq = "MBSEQ"

[endpoints.TTR]
param = "Time to relapse or death (years)"
unit = "YEARS"
origin = { label = "start", dataset = "DM", date = "RFSTDTC" }
truncate = { label = "new therapy", dataset = "CM", date = "CMSTDTC" }
events = ["RELAPSE", "DEATH"]
censors = ["LAST"]

[endpoints.AAA]
param = "Time to death (days)"
unit = "DAYS"
origin = { label = "start", dataset = "DM", date = "RFSTDTC" }
events = ["DEATH"]
censors = ["LAST"]
"""


def test_earliest_event_ties_by_sequence_and_subjects_without_truncation(
    tmp_path: Path,
) -> None:
    folder = _study(tmp_path, RELAPSE_STUDY)
    dm = pl.DataFrame(
        {
            "STUDYID": ["STUDY1"] * 3,
            "USUBJID": ["S3", "S1", "S2"],
            "RFSTDTC": ["2020-01-01"] * 3,
            # S1 dies before its relapse: the death (listed second) is the earliest event.
            "DTHDTC": [None, "2020-02-01", None],
        }
    )
    mb = pl.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S2", "S3", "S3", "S3"],
            # S2: two relapses on one day, the one with the lower MBSEQ written second.
            # S3: tests only; its last two on one day, the higher MBSEQ written first
            # and a record without MBSEQ, which sorts last.
            "MBSEQ": [1, 7, 3, 9, 4, None],
            "MBTESTCD": ["RELAPSE", "RELAPSE", "RELAPSE", "TEST", "TEST", "TEST"],
            "MBDTC": [
                "2020-03-01",
                "2020-04-01",
                "2020-04-01",
                "2020-05-01",
                "2020-05-01",
                "2020-05-01",
            ],
        },
        schema_overrides={"MBSEQ": pl.Int64},
    )
    # Only S3 starts a new therapy (after its tests): S1 and S2 keep every record.
    cm = pl.DataFrame({"USUBJID": ["S3"], "CMSTDTC": ["2020-06-01"]})
    sdtm = _sdtm(DM=dm, MB=mb, CM=cm)
    frame = derive_adtte(sdtm, CUTOFF, study=load_study(folder)).frame
    # One row per subject and parameter, by USUBJID then PARAMCD.
    assert frame.select("USUBJID", "PARAMCD").rows() == [
        ("S1", "AAA"),
        ("S1", "TTR"),
        ("S2", "AAA"),
        ("S2", "TTR"),
        ("S3", "AAA"),
        ("S3", "TTR"),
    ]
    # The study id comes from DM.
    assert set(frame["STUDYID"]) == {"STUDY1"}
    rows = {(r["USUBJID"], r["PARAMCD"]): r for r in frame.iter_rows(named=True)}
    s1 = rows[("S1", "TTR")]
    assert (s1["ADT"], s1["CNSR"], s1["EVNTDESC"], s1["CNSDTDSC"]) == (
        D(2020, 2, 1),
        0,
        "Death",
        None,
    )
    assert (s1["SRCDOM"], s1["SRCVAR"], s1["SRCSEQ"]) == ("DS", "DSSTDTC", None)
    # 2020-01-01 .. 2020-02-01 is day 32, in years of 12 x 30.4375 days.
    assert s1["AVAL"] == pytest.approx(32 / 365.25)
    assert s1["AVALU"] == "YEARS"
    s2 = rows[("S2", "TTR")]
    assert (s2["ADT"], s2["CNSR"], s2["SRCSEQ"]) == (D(2020, 4, 1), 0, 3)
    assert (s2["SRCDOM"], s2["SRCVAR"]) == ("MB", "MBDTC")
    s3 = rows[("S3", "TTR")]
    # The last test: 2020-05-01, the highest MBSEQ (the record without one sorts last
    # among the day's records and is picked by "last").
    assert (s3["ADT"], s3["CNSR"], s3["EVNTDESC"], s3["CNSDTDSC"]) == (
        D(2020, 5, 1),
        1,
        None,
        "Last test",
    )
    assert s3["SRCSEQ"] is None
    # AAA: S2 is censored at its last MB record, 2020-04-01: day 31 + 29 + 31 + 1 = 92.
    assert rows[("S2", "AAA")]["AVAL"] == 92.0


def test_a_missing_seq_or_adsl_variable_names_its_source(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[event_sources.E]
description = "E"
dataset = "DM"
date = "DTHDTC"
seq = "DMSEQ"

[event_sources.F]
description = "F"
dataset = "DM"
date = "ADSL.RANDDT"

[endpoints.X]
param = "X"
origin = { label = "o", dataset = "DM", date = "RFSTDTC" }
events = ["E"]

[endpoints.Y]
param = "Y"
origin = { label = "o", dataset = "DM", date = "RFSTDTC" }
events = ["F"]
""",
    )
    study = load_study(folder)
    with pytest.raises(PlanError) as info:
        derive_adtte(_sdtm(DM=DM), CUTOFF, study=study, paramcds=["X"])
    assert str(info.value).startswith(
        f"{folder / 'study.toml'}: event_sources.E.seq (endpoint X): DM has no variable DMSEQ;"
    )
    with pytest.raises(PlanError) as info:
        derive_adtte(_sdtm(DM=DM), CUTOFF, study=study, paramcds=["Y"])
    assert str(info.value).startswith(
        f"{folder / 'study.toml'}: event_sources.F.date (endpoint Y): ADSL has no variable RANDDT;"
    )


def test_adsl_is_derived_by_the_studys_own_rules(tmp_path: Path) -> None:
    # The origin is a study variable of ADSL (RANDDT): ADSL must be derived with this
    # study's rules, not MM-024's.
    folder = _study(
        tmp_path,
        """
[adsl.variables.RANDDT]
label = "Randomisation Date"
dataset = "DS"
where = "DSDECOD == 'RANDOMIZED'"
value = "DSSTDTC"

[endpoints.X]
param = "X"
unit = "DAYS"
origin = { label = "randomisation", dataset = "ADSL", date = "RANDDT" }
events = [{ name = "D", description = "Death", dataset = "DM", date = "DTHDTC" }]
""",
    )
    ds = pl.DataFrame({"USUBJID": ["S1"], "DSDECOD": ["RANDOMIZED"], "DSSTDTC": ["2020-01-31"]})
    frame = derive_adtte(_sdtm(DM=DM, DS=ds), CUTOFF, study=load_study(folder)).frame
    # S1 randomised 2020-01-31, dead 2020-03-01: day 31 (29 + 1 + 1). S2 has no origin.
    assert frame.select("USUBJID", "AVAL", "CNSR").rows() == [("S1", 31.0, 0)]


def test_last_date_known_alive_from_each_source() -> None:
    def frame(**cols: list[object]) -> pl.DataFrame:
        return pl.DataFrame(cols, schema_overrides={k: pl.String for k in cols})

    sdtm = _sdtm(
        DM=frame(USUBJID=["A", "B", "C", "D", "E"], RFICDTC=["2020-01-01"] * 5),
        SV=frame(USUBJID=["A"], SVSTDTC=["2020-02-01"]),
        RS=frame(USUBJID=["B"], RSDTC=["2020-03-01"]),
        # C: the end of its last dose; D: a dose start without an end.
        EX=frame(
            USUBJID=["C", "D"], EXSTDTC=["2020-04-01", "2020-04-10"], EXENDTC=["2020-04-20", None]
        ),
        # E: the death record never counts as alive; the withdrawal does; a record after
        # the cutoff is not seen.
        DS=frame(
            USUBJID=["E", "E", "E"],
            DSDECOD=["WITHDRAWAL BY SUBJECT", "DEATH", "LOST TO FOLLOW-UP"],
            DSSTDTC=["2020-05-01", "2020-05-15", "2020-07-01"],
        ),
    )
    alive = last_alive(polars_tables(sdtm), CUTOFF)
    assert alive is not None
    got = dict(collect(alive).iter_rows())
    assert got == {
        "A": D(2020, 2, 1),
        "B": D(2020, 3, 1),
        "C": D(2020, 4, 20),
        "D": D(2020, 4, 10),
        "E": D(2020, 5, 1),
    }
    assert last_alive({}, CUTOFF) is None


def test_adtte_dataset_name_and_label() -> None:
    dm = DM.with_columns(pl.col("RFSTDTC").alias("RFXSTDTC"))
    result = derive_adtte(_sdtm(DM=dm), CUTOFF, study=MM024, paramcds=["OS"])
    assert (result.name, result.label) == ("ADTTE", "Time-to-Event Analysis Dataset")


def test_the_first_record_is_the_earliest_date_whatever_its_sequence(tmp_path: Path) -> None:
    folder = _study(
        tmp_path,
        """
[endpoints.X]
param = "X"
unit = "DAYS"
origin = { label = "o", dataset = "DM", date = "RFSTDTC" }
events = [{ name = "R", description = "Relapse", dataset = "MB", date = "MBDTC", seq = "MBSEQ" }]
""",
    )
    mb = pl.DataFrame(
        {"USUBJID": ["S1", "S1"], "MBSEQ": [1, 9], "MBDTC": ["2020-04-01", "2020-03-01"]}
    )
    frame = derive_adtte(_sdtm(DM=DM, MB=mb), CUTOFF, study=load_study(folder)).frame
    row = frame.filter(pl.col("USUBJID") == "S1").row(0, named=True)
    # 2020-03-01 (MBSEQ 9) comes before 2020-04-01 (MBSEQ 1): day 61 (31 + 29 + 1).
    assert (row["ADT"], row["SRCSEQ"], row["AVAL"]) == (D(2020, 3, 1), 9, 61.0)
