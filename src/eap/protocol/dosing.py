"""Renal function, starting dose and dose reductions of lenalidomide.

Creatinine clearance is estimated by Cockcroft-Gault::

    CrCl (mL/min) = (140 - age) x weight (kg) / (72 x serum creatinine (mg/dL)), x 0.85 if female

Serum creatinine in umol/L is converted by dividing by 88.4 (umol/L per mg/dL).
The renal band (from the protocol) gives the full planned dose; a dose carried
over from the parent trial is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from eap.errors import ProtocolError
from eap.protocol._parse import positive
from eap.protocol.model import FREQUENCY_VALUES, Frequency, Protocol, RenalBand


class Sex(StrEnum):
    M = "M"
    F = "F"


class CreatinineUnit(StrEnum):
    MG_DL = "mg/dL"
    UMOL_L = "umol/L"


UMOL_L_PER_MG_DL = 88.4
FEMALE_FACTOR = 0.85
# Cockcroft-Gault gives zero clearance at 140 years; an age at or above it is an entry error.
MAX_AGE_YEARS = 140.0


def parse_sex(value: str) -> Sex:
    """``M`` or ``F`` (case-insensitive); anything else names the allowed values."""
    try:
        return Sex(str(value).strip().upper())
    except ValueError:
        raise ProtocolError(
            "unknown sex", variable="sex", expected="one of M, F", found=repr(value)
        ) from None


def parse_creatinine_unit(value: str) -> CreatinineUnit:
    """``mg/dL`` or ``umol/L`` (case-insensitive; ``µmol/L`` accepted for ``umol/L``)."""
    text = str(value).strip().replace("µ", "u").replace("μ", "u").lower()
    for unit in CreatinineUnit:
        if unit.value.lower() == text:
            return unit
    raise ProtocolError(
        "unknown creatinine unit",
        variable="creatinine_unit",
        expected="one of mg/dL, umol/L",
        found=repr(value),
    )


def parse_frequency(value: str, field: str = "frequency") -> Frequency:
    """``daily`` or ``every_other_day`` (``every-other-day`` and ``qod`` accepted)."""
    text = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if text == "qod":
        text = Frequency.EVERY_OTHER_DAY.value
    try:
        return Frequency(text)
    except ValueError:
        raise ProtocolError(
            "unknown frequency",
            variable=field,
            expected=f"one of {FREQUENCY_VALUES}",
            found=repr(value),
        ) from None


def cockcroft_gault(
    age: float,
    weight_kg: float,
    sex: Sex | str,
    creatinine: float,
    unit: CreatinineUnit | str = CreatinineUnit.MG_DL,
) -> float:
    """Creatinine clearance in mL/min by Cockcroft-Gault.

    >>> round(cockcroft_gault(70, 60, "F", 1.4), 2)  # 70*60/(72*1.4) = 41.667; x 0.85
    35.42
    """
    age = positive(age, "age", unit="years")
    if age >= MAX_AGE_YEARS:
        raise ProtocolError(
            "age outside the Cockcroft-Gault range",
            variable="age",
            expected=f"a number > 0 and < {MAX_AGE_YEARS:g} years",
            found=repr(age),
        )
    weight_kg = positive(weight_kg, "weight_kg", unit="kg")
    creatinine = positive(creatinine, "creatinine")
    sex = parse_sex(sex) if not isinstance(sex, Sex) else sex
    unit = parse_creatinine_unit(unit) if not isinstance(unit, CreatinineUnit) else unit
    scr_mg_dl = creatinine / UMOL_L_PER_MG_DL if unit is CreatinineUnit.UMOL_L else creatinine
    crcl = (140.0 - age) * weight_kg / (72.0 * scr_mg_dl)
    return crcl * FEMALE_FACTOR if sex is Sex.F else crcl


def _check_crcl(crcl: float) -> float:
    if isinstance(crcl, bool) or not isinstance(crcl, int | float) or math.isnan(crcl) or crcl < 0:
        raise ProtocolError(
            "creatinine clearance must be a number >= 0",
            variable="crcl",
            expected="a number >= 0 mL/min",
            found=repr(crcl),
        )
    return float(crcl)


def renal_band(protocol: Protocol, crcl: float) -> RenalBand:
    """The band whose ``crcl_min <= CrCl < crcl_max``; bands cover [0, inf) by validation."""
    crcl = _check_crcl(crcl)
    for band in protocol.regimen.lenalidomide.renal_bands:
        if band.contains(crcl):
            return band
    # Unreachable for a validated protocol; kept so a bug is an error, not a None.
    raise ProtocolError("no renal band contains this CrCl", variable="crcl", found=repr(crcl))


@dataclass(frozen=True)
class DoseLevel:
    """A lenalidomide dose per administration and how often it is given."""

    dose: float
    frequency: Frequency
    unit: str = "mg"

    def describe(self, first_day: int, last_day: int) -> str:
        how = "daily" if self.frequency is Frequency.DAILY else "every other day"
        return f"{self.dose:g} {self.unit} {how}, days {first_day}-{last_day}"


def check_on_ladder(protocol: Protocol, dose: float, field: str = "dose") -> float:
    """Return ``dose`` if it is a step of the dose-reduction ladder, else a ProtocolError."""
    ladder = protocol.dose_reduction.ladder
    if isinstance(dose, bool) or not isinstance(dose, int | float) or float(dose) not in ladder:
        raise ProtocolError(
            "dose not on the lenalidomide dose-reduction ladder",
            file=protocol.path,
            variable=field,
            expected="one of " + ", ".join(f"{d:g}" for d in ladder) + " mg",
            found=repr(dose),
        )
    return float(dose)


def dose_level_index(protocol: Protocol, dose: float) -> int:
    """0 for the top of the ladder, -1 for the first reduction, and so on.

    >>> from eap.protocol import load_protocol
    >>> dose_level_index(load_protocol(), 15)  # 25 -> 20 -> 15
    -2
    """
    dose = check_on_ladder(protocol, dose)
    return -protocol.dose_reduction.ladder.index(dose)


def reduce_dose(protocol: Protocol, dose: float, steps: int = 1) -> float | None:
    """The dose ``steps`` levels lower on the ladder, or ``None`` below the lowest step.

    ``None`` means the label allows no lower dose ("do not dose below 2.5 mg").
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ProtocolError(
            "reduction steps must be a positive integer",
            variable="steps",
            expected="an integer >= 1",
            found=repr(steps),
        )
    dose = check_on_ladder(protocol, dose)
    ladder = protocol.dose_reduction.ladder
    index = ladder.index(dose) + steps
    return ladder[index] if index < len(ladder) else None


@dataclass(frozen=True)
class StartingDose:
    """The EAP starting dose of lenalidomide and why.

    ``full`` is the renal-adjusted dose (the patient's 100% for relative dose
    intensity); ``planned`` is what the patient starts on, which is the
    carried-over parent-trial dose when there is one.
    """

    crcl: float
    band: RenalBand
    full: DoseLevel
    planned: DoseLevel
    carried_over: bool
    reasons: tuple[str, ...]


def starting_dose(
    protocol: Protocol,
    crcl: float,
    carried_over_dose: float | None = None,
    carried_over_frequency: Frequency | str | None = None,
) -> StartingDose:
    """Starting lenalidomide dose for a creatinine clearance, keeping a parent-trial dose.

    >>> from eap.protocol import load_protocol
    >>> p = load_protocol()
    >>> starting_dose(p, 45).planned
    DoseLevel(dose=10.0, frequency=<Frequency.DAILY: 'daily'>, unit='mg')
    """
    crcl = _check_crcl(crcl)
    band = renal_band(protocol, crcl)
    unit = protocol.regimen.lenalidomide.unit
    full = DoseLevel(band.dose, band.frequency, unit)
    reasons = [f"CrCl {crcl:.1f} mL/min is in band {band.label}: full dose {band.dose:g} {unit}"]
    if carried_over_dose is None:
        if carried_over_frequency is not None:
            raise ProtocolError(
                "a carried-over frequency needs a carried-over dose",
                variable="carried_over_dose",
                expected="a dose when carried_over_frequency is given",
                found="none",
            )
        return StartingDose(crcl, band, full, full, False, tuple(reasons))
    dose = check_on_ladder(protocol, carried_over_dose, "carried_over_dose")
    if carried_over_frequency is None:
        frequency = band.frequency
    elif isinstance(carried_over_frequency, Frequency):
        frequency = carried_over_frequency
    else:
        frequency = parse_frequency(carried_over_frequency, "carried_over_frequency")
    planned = DoseLevel(dose, frequency, unit)
    if not protocol.regimen.keep_parent_trial_dose:
        reasons.append("the protocol does not keep parent-trial doses: starting at full dose")
        return StartingDose(crcl, band, full, full, False, tuple(reasons))
    reasons.append(
        f"dose carried over from {protocol.study.parent_study} is kept: {dose:g} {unit} "
        f"{'daily' if frequency is Frequency.DAILY else 'every other day'}"
    )
    if dose > band.dose and frequency is band.frequency:
        reasons.append(
            "the carried-over dose is above the renal-adjusted full dose: review renal function"
        )
    return StartingDose(crcl, band, full, planned, True, tuple(reasons))
