"""The built-in MM-024 protocol file against the publication, and the loader's validation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from eap.errors import ProtocolError
from eap.protocol import Frequency, Protocol, load_protocol


def test_builtin_regimen_matches_the_publication_methods(protocol: Protocol) -> None:
    # Publication, Methods: "lenalidomide 25 mg/day on days 1-21, and dexamethasone
    # 40 mg/day on days 1, 8, 15, and 22 of each 28-day cycle ... (CrCl >= 60);
    # 10 mg/day ... (CrCl >= 30 to < 60); and 15 mg every other day ... (CrCl < 30)".
    reg = protocol.regimen
    assert reg.cycle_days == 28
    assert (reg.lenalidomide.first_day, reg.lenalidomide.last_day) == (1, 21)
    bands = {(b.crcl_min, b.crcl_max): (b.dose, b.frequency) for b in reg.lenalidomide.renal_bands}
    assert bands == {
        (60.0, math.inf): (25.0, Frequency.DAILY),
        (30.0, 60.0): (10.0, Frequency.DAILY),
        (0.0, 30.0): (15.0, Frequency.EVERY_OTHER_DAY),
    }
    assert reg.dexamethasone.dose == 40.0
    assert reg.dexamethasone.days == (1, 8, 15, 22)
    assert reg.keep_parent_trial_dose is True


def test_builtin_limits_follow_up_and_thromboprophylaxis(protocol: Protocol) -> None:
    assert protocol.study.id == "MM-024"
    assert protocol.study.parent_study == "MM-021"
    assert protocol.eligibility.treatment_min_years_on_rd == 1
    assert protocol.limits.max_total_treatment_years == 5
    fu = protocol.follow_up
    assert (fu.interval_months, fu.window_days, fu.years_after_last_parent_enrollment) == (4, 7, 5)
    hr = protocol.thromboprophylaxis.high_risk
    assert (hr.agent, hr.dose_min, hr.dose_max) == ("aspirin", 70.0, 100.0)
    alternatives = " ".join(protocol.thromboprophylaxis.aspirin_contraindicated)
    assert "low-molecular-weight heparin" in alternatives
    assert "vitamin K antagonist" in alternatives
    assert "hospital guidelines" in alternatives


def test_dose_reduction_ladder_follows_the_cited_label(protocol: Protocol) -> None:
    # USPI section 3: capsules of 2.5, 5, 10, 15, 20 and 25 mg; section 2.1:
    # "resume at next lower dose. Do not dose below 2.5 mg daily".
    dr = protocol.dose_reduction
    assert dr.ladder == (25.0, 20.0, 15.0, 10.0, 5.0, 2.5)
    assert "REVLIMID" in dr.source and "Prescribing Information" in dr.source
    assert "2.1" in dr.source
    assert dr.label_version
    assert {t.toxicity for t in dr.triggers} >= {"thrombocytopenia", "neutropenia"}
    # USPI 2.1: the reductions follow Grade 3-4 toxicities (platelets < 30,000/mcL and
    # ANC < 1,000/mcL are CTCAE Grade 3-4 too).
    assert dr.grades == (3, 4)


def test_dose_reduction_grades_are_optional_and_kept_in_order(
    tmp_path: Path, builtin_text: str
) -> None:
    absent = _replace(builtin_text, "grades = [3, 4]\n", "")
    assert load_protocol(_write(tmp_path, absent)).dose_reduction.grades is None
    edges = _replace(builtin_text, "grades = [3, 4]", "grades = [5, 1, 5]")
    assert load_protocol(_write(tmp_path, edges)).dose_reduction.grades == (1, 5)


def test_every_rule_names_its_source(protocol: Protocol) -> None:
    for source in (
        protocol.study.source,
        protocol.eligibility.source,
        protocol.regimen.source,
        protocol.limits.source,
        protocol.follow_up.source,
        protocol.thromboprophylaxis.source,
        protocol.treatment_phase.source,
    ):
        assert "Publication" in source


def test_protocol_is_frozen(protocol: Protocol) -> None:
    with pytest.raises(AttributeError):
        protocol.regimen.cycle_days = 21  # type: ignore[misc]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_a_copy_of_the_builtin_file_loads(tmp_path: Path, builtin_text: str) -> None:
    loaded = load_protocol(_write(tmp_path, builtin_text))
    assert loaded.regimen == load_protocol().regimen


# The middle band is "crcl_min = 30.0 / crcl_max = 60.0".
MIDDLE_BAND = "crcl_min = 30.0\ncrcl_max = 60.0"


@pytest.mark.parametrize(
    ("old", "new", "problem", "expected"),
    [
        (MIDDLE_BAND, "crcl_min = 25.0\ncrcl_max = 60.0", "overlap", "equal to crcl_max"),
        (MIDDLE_BAND, "crcl_min = 30.0\ncrcl_max = 55.0", "gap between 55 and 60", "equal to"),
        ("crcl_min = 0.0", "crcl_min = 5.0", "gap", "lowest crcl_min to be 0"),
        ("crcl_max = inf", "crcl_max = 500.0", "gap", "highest crcl_max to be inf"),
        (MIDDLE_BAND, "crcl_min = 30.0\ncrcl_max = 30.0", "band is empty", "crcl_max > crcl_min"),
    ],
)
def test_renal_bands_must_cover_zero_to_infinity_once(
    tmp_path: Path, builtin_text: str, old: str, new: str, problem: str, expected: str
) -> None:
    path = _write(tmp_path, _replace(builtin_text, old, new))
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    message = str(info.value)
    assert str(path) in message
    assert "regimen.lenalidomide.renal_bands" in message
    assert problem in message
    assert expected in message


def test_a_band_dose_off_the_ladder_names_the_allowed_doses(
    tmp_path: Path, builtin_text: str
) -> None:
    text = _replace(builtin_text, "dose = 10.0\n", "dose = 12.0\n")
    with pytest.raises(ProtocolError) as info:
        load_protocol(_write(tmp_path, text))
    message = str(info.value)
    assert "regimen.lenalidomide.renal_bands[1].dose" in message
    assert "not on the dose-reduction ladder" in message
    assert "one of 25, 20, 15, 10, 5, 2.5" in message
    assert "found 12.0" in message


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("cycle_days = 28", "cycle_days = 0", "regimen.cycle_days", "an integer > 0"),
        ("cycle_days = 28", "cycle_days = -28", "regimen.cycle_days", "an integer > 0"),
        (
            "days = [1, 8, 15, 22]",
            "days = [1, 8, 15, 29]",
            "regimen.dexamethasone.days[3]",
            "an integer from 1 to 28",
        ),
        (
            "days = [1, 8, 15, 22]",
            "days = [1, 15, 8, 22]",
            "regimen.dexamethasone.days",
            "increasing days",
        ),
        (
            'frequency = "every_other_day"',
            'frequency = "weekly"',
            "regimen.lenalidomide.renal_bands[2].frequency",
            "daily, every_other_day",
        ),
        (
            "ladder = [25.0, 20.0, 15.0, 10.0, 5.0, 2.5]",
            "ladder = [25.0, 15.0, 20.0, 10.0, 5.0, 2.5]",
            "dose_reduction.ladder",
            "doses from highest to lowest",
        ),
        (
            "ladder = [25.0, 20.0, 15.0, 10.0, 5.0, 2.5]",
            "ladder = [25.0, 20.0, 15.0, 10.0, 5.0, 0]",
            "dose_reduction.ladder[5]",
            "a number > 0",
        ),
        ("last_day = 21", "last_day = 40", "regimen.lenalidomide.last_day", "1 to 28"),
        ("window_days = 7", "window_days = 90", "follow_up.window_days", "fewer than 56 days"),
        ("dose_min = 70.0", "dose_min = 170.0", "thromboprophylaxis.high_risk.dose_max", ">= 170"),
        (
            "max_total_treatment_years = 5",
            "max_total_treatment_years = 0",
            "limits.max_total_treatment_years",
            "an integer > 0",
        ),
        (
            "keep_parent_trial_dose = true",
            'keep_parent_trial_dose = "yes"',
            "regimen.carry_over.keep_parent_trial_dose",
            "true or false",
        ),
        ("format_version = 1", "format_version = 2", "format_version", "expected 1"),
        ("grades = [3, 4]", "grades = [0, 3]", "dose_reduction.grades", "integers 1 to 5"),
        ("grades = [3, 4]", "grades = [3, 6]", "dose_reduction.grades", "integers 1 to 5"),
        ("grades = [3, 4]", "grades = [true]", "dose_reduction.grades", "integers 1 to 5"),
        ("grades = [3, 4]", "grades = []", "dose_reduction.grades", "a non-empty array"),
    ],
)
def test_invalid_fields_name_the_field_and_the_allowed_values(
    tmp_path: Path, builtin_text: str, old: str, new: str, field: str, expected: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        load_protocol(_write(tmp_path, _replace(builtin_text, old, new)))
    message = str(info.value)
    assert field in message
    assert expected in message


def test_missing_field_is_named(tmp_path: Path, builtin_text: str) -> None:
    text = _replace(builtin_text, "interval_months = 4\n", "")
    with pytest.raises(ProtocolError, match=r"follow_up\.interval_months: missing field"):
        load_protocol(_write(tmp_path, text))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="protocol file not found"):
        load_protocol(tmp_path / "absent.toml")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(_write(tmp_path, "[study\nid = 1"))
