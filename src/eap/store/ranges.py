"""Plausibility ranges of every number a user enters, in one table, with their units.

A value outside its range is refused before anything is stored, with a message
naming the field, the range and the unit. Both bounds are inclusive. The ranges
are wide on purpose: they stop typing errors and absurd values (a creatinine of
1e-300 mg/dL, an age of 900), not unusual patients.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a field, its unit and where the bounds come from."""

    low: float
    high: float
    unit: str
    source: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def message(self, field: str, value: float) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{field} must be {self.low:g} to {self.high:g}{unit}; found {value:g}{unit}"


RANGES: dict[str, Range] = {
    # MM-024 enrolled adults only (age 18 or over); 120 years is past the oldest person
    # ever documented, so a larger number is a typing error.
    "age": Range(18, 120, "years", "protocol (adults); physiology (upper)"),
    # 20 kg is below any adult with myeloma able to take Rd; 350 kg above the heaviest
    # patients treated in clinical trials.
    "weight_kg": Range(20, 350, "kg", "physiology (adult body weight)"),
    # Serum creatinine: below 0.1 mg/dL is not measurable in an adult (assays report
    # from about 0.1); above 20 mg/dL a patient is on dialysis and outside MM-024.
    # The µmol/L bounds are the same values times 88.4 (the conversion eap.protocol uses).
    "creatinine mg/dL": Range(0.1, 20, "mg/dL", "physiology; protocol renal bands"),
    "creatinine umol/L": Range(8.84, 1768, "µmol/L", "physiology; 0.1-20 mg/dL x 88.4"),
    # Lenalidomide doses: the protocol's dose-reduction ladder runs from 25 mg down to
    # 2.5 mg (src/eap/protocol/mm024.toml); the ladder check refuses the steps between.
    "dose": Range(2.5, 25, "mg", "protocol dose-reduction ladder"),
    "carried_over_dose": Range(2.5, 25, "mg", "protocol dose-reduction ladder"),
    # CTCAE v4.03 grades 1 (mild) to 5 (death related to the AE).
    "grade": Range(1, 5, "", "CTCAE v4.03"),
    # 28-day cycles (mm024.toml regimen.cycle_days): 200 cycles are 15 years of Rd, past
    # the program's 5-year follow-up and the longest MM-021 treatment.
    "cycle": Range(1, 200, "", "protocol: 28-day cycles over at most 15 years"),
}


def creatinine_range(unit: str) -> Range:
    """The creatinine range in the unit the site entered."""
    return RANGES[f"creatinine {unit}"]


def check_range(key: str, field: str, value: float | None) -> dict[str, str]:
    """``{field: message}`` when ``value`` is outside the range ``key``; ``{}`` otherwise."""
    if value is None or RANGES[key].contains(value):
        return {}
    return {field: RANGES[key].message(field, value)}
