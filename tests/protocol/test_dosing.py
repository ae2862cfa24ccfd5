"""Cockcroft-Gault, renal bands, starting dose and the dose-reduction ladder.

Expected values are hand calculations written out next to each assertion.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.errors import ProtocolError
from eap.protocol import (
    Frequency,
    Protocol,
    check_on_ladder,
    cockcroft_gault,
    dose_level_index,
    reduce_dose,
    renal_band,
    starting_dose,
)


def test_cockcroft_gault_female_in_mg_dl() -> None:
    # (140 - 70) x 60 / (72 x 1.4) = 4200 / 100.8 = 41.6667; female x 0.85 = 35.4167
    assert cockcroft_gault(70, 60, "F", 1.4) == pytest.approx(35.416667, abs=1e-6)


def test_cockcroft_gault_male_in_mg_dl() -> None:
    # (140 - 40) x 72 / (72 x 1.0) = 100
    assert cockcroft_gault(40, 72, "M", 1.0) == pytest.approx(100.0)
    # (140 - 65) x 80 / (72 x 2.0) = 6000 / 144 = 41.6667
    assert cockcroft_gault(65, 80, "m", 2.0) == pytest.approx(41.666667, abs=1e-6)


def test_cockcroft_gault_umol_per_litre_divides_by_88_4() -> None:
    # 88.4 umol/L = 1.0 mg/dL, so this is the 100 mL/min male above.
    assert cockcroft_gault(40, 72, "M", 88.4, "umol/L") == pytest.approx(100.0)
    # 123.76 umol/L / 88.4 = 1.4 mg/dL -> the 35.4167 female above.
    assert cockcroft_gault(70, 60, "F", 123.76, "µmol/L") == pytest.approx(35.416667, abs=1e-6)


@pytest.mark.parametrize(
    ("crcl", "dose", "frequency"),
    [
        (0.0, 15.0, Frequency.EVERY_OTHER_DAY),
        (29.999, 15.0, Frequency.EVERY_OTHER_DAY),
        (30.0, 10.0, Frequency.DAILY),  # "CrCl >= 30 to < 60": 30 is in the 10 mg band
        (45.0, 10.0, Frequency.DAILY),
        (59.999, 10.0, Frequency.DAILY),
        (60.0, 25.0, Frequency.DAILY),  # "CrCl >= 60": 60 is in the 25 mg band
        (250.0, 25.0, Frequency.DAILY),
    ],
)
def test_renal_band_boundaries(
    protocol: Protocol, crcl: float, dose: float, frequency: Frequency
) -> None:
    band = renal_band(protocol, crcl)
    assert (band.dose, band.frequency) == (dose, frequency)


def test_starting_dose_without_carry_over_is_the_renal_dose(protocol: Protocol) -> None:
    sd = starting_dose(protocol, 35.416667)
    assert sd.full == sd.planned
    assert (sd.planned.dose, sd.planned.frequency) == (10.0, Frequency.DAILY)
    assert not sd.carried_over
    assert "30 to < 60" in sd.reasons[0]


def test_carried_over_dose_is_kept_and_full_dose_stays_renal(protocol: Protocol) -> None:
    # A CrCl 72 patient reduced to 20 mg in MM-021 keeps 20 mg; 25 mg stays the full dose.
    sd = starting_dose(protocol, 72, carried_over_dose=20)
    assert sd.carried_over
    assert sd.planned.dose == 20.0
    assert sd.full.dose == 25.0
    assert any("kept" in r for r in sd.reasons)


def test_carried_over_every_other_day_dose(protocol: Protocol) -> None:
    sd = starting_dose(protocol, 20, carried_over_dose=10, carried_over_frequency="every_other_day")
    assert (sd.planned.dose, sd.planned.frequency) == (10.0, Frequency.EVERY_OTHER_DAY)
    assert (sd.full.dose, sd.full.frequency) == (15.0, Frequency.EVERY_OTHER_DAY)


def test_carried_over_dose_above_the_renal_dose_is_flagged(protocol: Protocol) -> None:
    sd = starting_dose(protocol, 45, carried_over_dose=25)
    assert sd.planned.dose == 25.0
    assert any("above the renal-adjusted full dose" in r for r in sd.reasons)


def test_carried_over_dose_off_the_ladder_is_an_error(protocol: Protocol) -> None:
    with pytest.raises(ProtocolError) as info:
        starting_dose(protocol, 72, carried_over_dose=12)
    message = str(info.value)
    assert "carried_over_dose" in message
    assert "one of 25, 20, 15, 10, 5, 2.5 mg" in message
    assert "found 12" in message


def test_carried_over_frequency_needs_a_dose(protocol: Protocol) -> None:
    with pytest.raises(ProtocolError, match="carried_over_dose"):
        starting_dose(protocol, 72, carried_over_frequency="daily")
    with pytest.raises(ProtocolError, match="daily, every_other_day"):
        starting_dose(protocol, 72, carried_over_dose=20, carried_over_frequency="weekly")


def test_reduction_ladder_steps(protocol: Protocol) -> None:
    assert reduce_dose(protocol, 25) == 20.0
    assert reduce_dose(protocol, 20) == 15.0
    assert reduce_dose(protocol, 15) == 10.0
    assert reduce_dose(protocol, 10) == 5.0
    assert reduce_dose(protocol, 5) == 2.5
    assert reduce_dose(protocol, 2.5) is None  # "Do not dose below 2.5 mg daily"
    assert reduce_dose(protocol, 25, steps=2) == 15.0
    assert reduce_dose(protocol, 5, steps=3) is None
    assert dose_level_index(protocol, 25) == 0
    assert dose_level_index(protocol, 15) == -2
    assert dose_level_index(protocol, 2.5) == -5


@pytest.mark.parametrize("dose", [12, 30, 0, -5, 7.5])
def test_dose_not_on_the_ladder(protocol: Protocol, dose: float) -> None:
    with pytest.raises(ProtocolError) as info:
        reduce_dose(protocol, dose)
    assert "not on the lenalidomide dose-reduction ladder" in str(info.value)
    assert "one of 25, 20, 15, 10, 5, 2.5 mg" in str(info.value)
    with pytest.raises(ProtocolError):
        check_on_ladder(protocol, dose)


def test_reduction_steps_must_be_positive(protocol: Protocol) -> None:
    with pytest.raises(ProtocolError, match="an integer >= 1"):
        reduce_dose(protocol, 25, steps=0)


@pytest.mark.parametrize(
    ("kwargs", "field", "expected"),
    [
        ({"weight_kg": 0}, "weight_kg", "a number > 0 kg"),
        ({"weight_kg": -60}, "weight_kg", "a number > 0 kg"),
        ({"creatinine": 0}, "creatinine", "a number > 0"),
        ({"creatinine": -1.4}, "creatinine", "a number > 0"),
        ({"creatinine": math.nan}, "creatinine", "a number > 0"),
        ({"age": 0}, "age", "a number > 0 years"),
        ({"age": -3}, "age", "a number > 0 years"),
        ({"age": 140}, "age", "< 140 years"),
        ({"sex": "X"}, "sex", "one of M, F"),
        ({"sex": ""}, "sex", "one of M, F"),
        ({"unit": "mmol/L"}, "creatinine_unit", "one of mg/dL, umol/L"),
    ],
)
def test_bad_cockcroft_gault_inputs_name_field_and_allowed_values(
    kwargs: dict[str, object], field: str, expected: str
) -> None:
    args: dict[str, object] = {"age": 70, "weight_kg": 60, "sex": "F", "creatinine": 1.4}
    args.update(kwargs)
    with pytest.raises(ProtocolError) as info:
        cockcroft_gault(**args)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"{field}:")
    assert expected in message


@pytest.mark.parametrize("crcl", [-0.1, math.nan])
def test_bad_crcl(protocol: Protocol, crcl: float) -> None:
    with pytest.raises(ProtocolError, match=r"crcl: .*a number >= 0 mL/min"):
        renal_band(protocol, crcl)


ages = st.floats(min_value=18, max_value=100)
weights = st.floats(min_value=30, max_value=200)
creatinines = st.floats(min_value=0.2, max_value=15)


@given(ages, weights, creatinines)
def test_female_clearance_is_085_of_male(age: float, weight: float, scr: float) -> None:
    male = cockcroft_gault(age, weight, "M", scr)
    assert cockcroft_gault(age, weight, "F", scr) == pytest.approx(0.85 * male)


@given(ages, weights, creatinines)
def test_units_agree(age: float, weight: float, scr: float) -> None:
    assert cockcroft_gault(age, weight, "M", scr * 88.4, "umol/L") == pytest.approx(
        cockcroft_gault(age, weight, "M", scr)
    )


@given(ages, weights, creatinines, st.floats(min_value=1.01, max_value=3))
def test_higher_creatinine_lower_clearance(age: float, weight: float, scr: float, k: float) -> None:
    assert cockcroft_gault(age, weight, "F", scr * k) < cockcroft_gault(age, weight, "F", scr)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_every_clearance_is_in_exactly_one_band(crcl: float) -> None:
    from eap.protocol import load_protocol

    p = load_protocol()
    hits = [b for b in p.regimen.lenalidomide.renal_bands if b.contains(crcl)]
    assert len(hits) == 1
    assert renal_band(p, crcl) == hits[0]
    expected = 25.0 if crcl >= 60 else 10.0 if crcl >= 30 else 15.0
    assert hits[0].dose == expected
