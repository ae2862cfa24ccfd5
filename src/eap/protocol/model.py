"""The protocol as typed, frozen data, and the loader that validates a protocol file.

A protocol file is TOML (the built-in one is ``mm024.toml`` next to this module).
Every problem the loader finds is a :class:`eap.errors.ProtocolError` naming the
file, the field (as a dotted TOML path) and what was allowed.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from eap.errors import ProtocolError

BUILTIN_NAME = "mm024.toml"


class Frequency(StrEnum):
    """How often a drug is given on the dosing days of its cycle window."""

    DAILY = "daily"
    EVERY_OTHER_DAY = "every_other_day"


FREQUENCY_VALUES = ", ".join(f.value for f in Frequency)


@dataclass(frozen=True)
class Study:
    id: str
    title: str
    parent_study: str
    registry_id: str
    sponsor_registration: str
    source: str


@dataclass(frozen=True)
class Phase:
    name: str
    description: str
    source: str


@dataclass(frozen=True)
class Eligibility:
    treatment_min_years_on_rd: int
    exclusions: Mapping[str, str]
    source: str


@dataclass(frozen=True)
class RenalBand:
    """A creatinine-clearance band: ``crcl_min <= CrCl < crcl_max`` (mL/min)."""

    label: str
    crcl_min: float
    crcl_max: float
    dose: float
    frequency: Frequency

    def contains(self, crcl: float) -> bool:
        return self.crcl_min <= crcl < self.crcl_max


@dataclass(frozen=True)
class Lenalidomide:
    name: str
    unit: str
    first_day: int
    last_day: int
    renal_bands: tuple[RenalBand, ...]

    def dosing_days(self, frequency: Frequency) -> tuple[int, ...]:
        """Cycle days with a dose; every other day starts on ``first_day``.

        For days 1-21: daily gives 21 days; every other day gives 1, 3, ..., 21 (11 days).
        """
        step = 1 if frequency is Frequency.DAILY else 2
        return tuple(range(self.first_day, self.last_day + 1, step))


@dataclass(frozen=True)
class Dexamethasone:
    name: str
    unit: str
    dose: float
    days: tuple[int, ...]


@dataclass(frozen=True)
class Regimen:
    cycle_days: int
    lenalidomide: Lenalidomide
    dexamethasone: Dexamethasone
    keep_parent_trial_dose: bool
    source: str
    carry_over_source: str


@dataclass(frozen=True)
class ReductionTrigger:
    toxicity: str
    interrupt_when: str
    resume_when: str
    resume_at: str


@dataclass(frozen=True)
class DoseReduction:
    drug: str
    ladder: tuple[float, ...]
    source: str
    label_version: str
    triggers: tuple[ReductionTrigger, ...]
    # CTCAE grades of an adverse event for which the dose is reduced (None: not stated).
    grades: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Limits:
    max_total_treatment_years: int
    source: str


@dataclass(frozen=True)
class FollowUp:
    interval_months: int
    window_days: int
    coming_due_days: int
    years_after_last_parent_enrollment: int
    source: str


@dataclass(frozen=True)
class AspirinRule:
    agent: str
    route: str
    dose_min: float
    dose_max: float
    unit: str
    frequency: str
    note: str


@dataclass(frozen=True)
class Thromboprophylaxis:
    high_risk: AspirinRule
    aspirin_contraindicated: tuple[str, ...]
    aspirin_contraindicated_note: str
    source: str


@dataclass(frozen=True)
class Protocol:
    """One study's rules. Build it with :func:`load_protocol`, never by hand."""

    path: str
    study: Study
    eligibility: Eligibility
    treatment_phase: Phase
    safety_follow_up_phase: Phase
    regimen: Regimen
    dose_reduction: DoseReduction
    limits: Limits
    follow_up: FollowUp
    thromboprophylaxis: Thromboprophylaxis


# --------------------------------------------------------------------------- loader


class _Reader:
    """Typed access to a parsed TOML document; errors name the file and the dotted field."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, field: str, problem: str, expected: str, found: object) -> ProtocolError:
        return ProtocolError(
            problem, file=self.file, variable=field, expected=expected, found=repr(found)
        )

    def table(self, data: Mapping[str, Any], field: str) -> Mapping[str, Any]:
        value = self._get(data, field)
        if not isinstance(value, dict):
            raise self.fail(field, "not a table", "a TOML table", value)
        return value

    def _get(self, data: Mapping[str, Any], field: str) -> Any:
        key = field.rsplit(".", 1)[-1]
        if key not in data:
            raise ProtocolError(
                "missing field", file=self.file, variable=field, expected=f"a value for {key!r}"
            )
        return data[key]

    def text(self, data: Mapping[str, Any], field: str) -> str:
        value = self._get(data, field)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "not a non-empty string", "a non-empty string", value)
        return value

    def boolean(self, data: Mapping[str, Any], field: str) -> bool:
        value = self._get(data, field)
        if not isinstance(value, bool):
            raise self.fail(field, "not a boolean", "true or false", value)
        return value

    def positive_int(self, data: Mapping[str, Any], field: str) -> int:
        value = self._get(data, field)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(field, "not a positive integer", "an integer > 0", value)
        return value

    def number(self, data: Mapping[str, Any], field: str, *, allow_inf: bool = False) -> float:
        value = self._get(data, field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, "not a number", "a number", value)
        number = float(value)
        if math.isnan(number) or (math.isinf(number) and not allow_inf):
            expected = "a number or inf" if allow_inf else "a finite number"
            raise self.fail(field, "not a usable number", expected, value)
        return number

    def positive_number(self, data: Mapping[str, Any], field: str) -> float:
        number = self.number(data, field)
        if number <= 0:
            raise self.fail(field, "must be positive", "a number > 0", number)
        return number

    def array(self, data: Mapping[str, Any], field: str) -> list[Any]:
        value = self._get(data, field)
        if not isinstance(value, list) or not value:
            raise self.fail(field, "not a non-empty array", "a non-empty array", value)
        return value


def _day(reader: _Reader, value: object, field: str, cycle_days: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cycle_days:
        raise reader.fail(
            field, "day outside the cycle", f"an integer from 1 to {cycle_days}", value
        )
    return value


def _renal_bands(
    reader: _Reader, raw: list[Any], ladder: tuple[float, ...]
) -> tuple[RenalBand, ...]:
    field = "regimen.lenalidomide.renal_bands"
    bands: list[RenalBand] = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise reader.fail(where, "not a table", "a TOML table", item)
        lo = reader.number(item, f"{where}.crcl_min")
        hi = reader.number(item, f"{where}.crcl_max", allow_inf=True)
        if not lo < hi:
            raise reader.fail(
                f"{where}.crcl_max", "band is empty", f"crcl_max > crcl_min ({lo})", hi
            )
        dose = reader.positive_number(item, f"{where}.dose")
        if dose not in ladder:
            raise reader.fail(
                f"{where}.dose",
                "dose not on the dose-reduction ladder",
                "one of " + ", ".join(f"{d:g}" for d in ladder),
                dose,
            )
        freq_raw = reader.text(item, f"{where}.frequency")
        try:
            freq = Frequency(freq_raw)
        except ValueError:
            raise reader.fail(
                f"{where}.frequency", "unknown frequency", FREQUENCY_VALUES, freq_raw
            ) from None
        bands.append(RenalBand(reader.text(item, f"{where}.label"), lo, hi, dose, freq))
    # Why sorted and chained: every CrCl >= 0 must map to exactly one dose, so the
    # bands, ordered by lower bound, must start at 0, meet end to start, and end at inf.
    ordered = sorted(bands, key=lambda b: b.crcl_min)
    if ordered[0].crcl_min != 0.0:
        raise reader.fail(
            field, "renal bands leave a gap", "the lowest crcl_min to be 0", ordered[0].crcl_min
        )
    for low, high in itertools.pairwise(ordered):
        if high.crcl_min < low.crcl_max:
            raise reader.fail(
                field,
                f"renal bands overlap ({low.label!r} and {high.label!r})",
                f"crcl_min of {high.label!r} equal to crcl_max of {low.label!r} ({low.crcl_max:g})",
                high.crcl_min,
            )
        if high.crcl_min > low.crcl_max:
            raise reader.fail(
                field,
                f"renal bands leave a gap between {low.crcl_max:g} and {high.crcl_min:g}",
                f"crcl_min of {high.label!r} equal to crcl_max of {low.label!r} ({low.crcl_max:g})",
                high.crcl_min,
            )
    if not math.isinf(ordered[-1].crcl_max):
        raise reader.fail(
            field, "renal bands leave a gap", "the highest crcl_max to be inf", ordered[-1].crcl_max
        )
    return tuple(ordered)


def _ladder(reader: _Reader, raw: list[Any]) -> tuple[float, ...]:
    field = "dose_reduction.ladder"
    ladder: list[float] = []
    for i, value in enumerate(raw):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise reader.fail(f"{field}[{i}]", "not a positive dose", "a number > 0", value)
        ladder.append(float(value))
    if any(b >= a for a, b in itertools.pairwise(ladder)):
        raise reader.fail(
            field, "ladder not strictly decreasing", "doses from highest to lowest", raw
        )
    return tuple(ladder)


def _grades(reader: _Reader, dr: Mapping[str, Any]) -> tuple[int, ...] | None:
    """``dose_reduction.grades``: the CTCAE grades (1-5) an AE must reach for a reduction."""
    if "grades" not in dr:
        return None
    field = "dose_reduction.grades"
    raw = reader.array(dr, field)
    if not raw or any(
        isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= 5 for g in raw
    ):
        raise reader.fail(field, "not a list of CTCAE grades", "integers 1 to 5, e.g. [3, 4]", raw)
    return tuple(sorted(set(raw)))


def parse_protocol(data: Mapping[str, Any], file: str) -> Protocol:
    """Validate a parsed protocol document and build the typed :class:`Protocol`."""
    r = _Reader(file)
    version = r.positive_int(data, "format_version")
    if version != 1:
        raise r.fail("format_version", "unsupported protocol format", "1", version)

    st = r.table(data, "study")
    study = Study(
        id=r.text(st, "study.id"),
        title=r.text(st, "study.title"),
        parent_study=r.text(st, "study.parent_study"),
        registry_id=r.text(st, "study.registry_id"),
        sponsor_registration=r.text(st, "study.sponsor_registration"),
        source=r.text(st, "study.source"),
    )

    el = r.table(data, "eligibility")
    excl = r.table(el, "eligibility.exclusions")
    required = (
        "no_consent",
        "hypersensitivity_lenalidomide",
        "hypersensitivity_dexamethasone",
        "discontinued_for_toxicity",
    )
    exclusions = {key: r.text(excl, f"eligibility.exclusions.{key}") for key in required}
    eligibility = Eligibility(
        treatment_min_years_on_rd=r.positive_int(el, "eligibility.treatment_min_years_on_rd"),
        # A read-only view, so the frozen Protocol cannot be changed through it.
        exclusions=MappingProxyType(exclusions),
        source=r.text(el, "eligibility.source"),
    )

    ph = r.table(data, "phases")
    phases = {}
    for key in ("treatment", "safety_follow_up"):
        t = r.table(ph, f"phases.{key}")
        phases[key] = Phase(
            name=r.text(t, f"phases.{key}.name"),
            description=r.text(t, f"phases.{key}.description"),
            source=r.text(t, f"phases.{key}.source"),
        )

    dr = r.table(data, "dose_reduction")
    ladder = _ladder(r, r.array(dr, "dose_reduction.ladder"))
    triggers = []
    for i, item in enumerate(r.array(dr, "dose_reduction.triggers")):
        where = f"dose_reduction.triggers[{i}]"
        if not isinstance(item, dict):
            raise r.fail(where, "not a table", "a TOML table", item)
        triggers.append(
            ReductionTrigger(
                toxicity=r.text(item, f"{where}.toxicity"),
                interrupt_when=r.text(item, f"{where}.interrupt_when"),
                resume_when=r.text(item, f"{where}.resume_when"),
                resume_at=r.text(item, f"{where}.resume_at"),
            )
        )
    dose_reduction = DoseReduction(
        drug=r.text(dr, "dose_reduction.drug"),
        ladder=ladder,
        source=r.text(dr, "dose_reduction.source"),
        label_version=r.text(dr, "dose_reduction.label_version"),
        triggers=tuple(triggers),
        grades=_grades(r, dr),
    )

    rg = r.table(data, "regimen")
    cycle_days = r.positive_int(rg, "regimen.cycle_days")
    le = r.table(rg, "regimen.lenalidomide")
    first = _day(r, r._get(le, "first_day"), "regimen.lenalidomide.first_day", cycle_days)
    last = _day(r, r._get(le, "last_day"), "regimen.lenalidomide.last_day", cycle_days)
    if last < first:
        raise r.fail("regimen.lenalidomide.last_day", "ends before it starts", f">= {first}", last)
    lenalidomide = Lenalidomide(
        name=r.text(le, "regimen.lenalidomide.name"),
        unit=r.text(le, "regimen.lenalidomide.unit"),
        first_day=first,
        last_day=last,
        renal_bands=_renal_bands(r, r.array(le, "regimen.lenalidomide.renal_bands"), ladder),
    )
    dx = r.table(rg, "regimen.dexamethasone")
    dex_days = tuple(
        _day(r, d, f"regimen.dexamethasone.days[{i}]", cycle_days)
        for i, d in enumerate(r.array(dx, "regimen.dexamethasone.days"))
    )
    if len(set(dex_days)) != len(dex_days) or list(dex_days) != sorted(dex_days):
        raise r.fail(
            "regimen.dexamethasone.days",
            "days repeat or are unordered",
            "increasing days",
            dex_days,
        )
    dexamethasone = Dexamethasone(
        name=r.text(dx, "regimen.dexamethasone.name"),
        unit=r.text(dx, "regimen.dexamethasone.unit"),
        dose=r.positive_number(dx, "regimen.dexamethasone.dose"),
        days=dex_days,
    )
    co = r.table(rg, "regimen.carry_over")
    regimen = Regimen(
        cycle_days=cycle_days,
        lenalidomide=lenalidomide,
        dexamethasone=dexamethasone,
        keep_parent_trial_dose=r.boolean(co, "regimen.carry_over.keep_parent_trial_dose"),
        source=r.text(rg, "regimen.source"),
        carry_over_source=r.text(co, "regimen.carry_over.source"),
    )

    li = r.table(data, "limits")
    limits = Limits(
        max_total_treatment_years=r.positive_int(li, "limits.max_total_treatment_years"),
        source=r.text(li, "limits.source"),
    )

    fu = r.table(data, "follow_up")
    window = r.positive_int(fu, "follow_up.window_days")
    interval = r.positive_int(fu, "follow_up.interval_months")
    # Why: windows of consecutive visits must not touch, or one visit could count twice.
    if 2 * window >= interval * 28:
        raise r.fail(
            "follow_up.window_days",
            "windows of consecutive visits would overlap",
            f"fewer than {interval * 14} days",
            window,
        )
    follow_up = FollowUp(
        interval_months=interval,
        window_days=window,
        coming_due_days=r.positive_int(fu, "follow_up.coming_due_days"),
        years_after_last_parent_enrollment=r.positive_int(
            fu, "follow_up.years_after_last_parent_enrollment"
        ),
        source=r.text(fu, "follow_up.source"),
    )

    tp = r.table(data, "thromboprophylaxis")
    hr = r.table(tp, "thromboprophylaxis.high_risk")
    dose_min = r.positive_number(hr, "thromboprophylaxis.high_risk.dose_min")
    dose_max = r.positive_number(hr, "thromboprophylaxis.high_risk.dose_max")
    if dose_max < dose_min:
        raise r.fail(
            "thromboprophylaxis.high_risk.dose_max",
            "range is reversed",
            f">= {dose_min:g}",
            dose_max,
        )
    ac = r.table(tp, "thromboprophylaxis.aspirin_contraindicated")
    agents = r.array(ac, "thromboprophylaxis.aspirin_contraindicated.agents")
    for i, agent in enumerate(agents):
        if not isinstance(agent, str) or not agent.strip():
            raise r.fail(
                f"thromboprophylaxis.aspirin_contraindicated.agents[{i}]",
                "not a non-empty string",
                "a non-empty string",
                agent,
            )
    thrombo = Thromboprophylaxis(
        high_risk=AspirinRule(
            agent=r.text(hr, "thromboprophylaxis.high_risk.agent"),
            route=r.text(hr, "thromboprophylaxis.high_risk.route"),
            dose_min=dose_min,
            dose_max=dose_max,
            unit=r.text(hr, "thromboprophylaxis.high_risk.unit"),
            frequency=r.text(hr, "thromboprophylaxis.high_risk.frequency"),
            note=r.text(hr, "thromboprophylaxis.high_risk.note"),
        ),
        aspirin_contraindicated=tuple(agents),
        aspirin_contraindicated_note=r.text(ac, "thromboprophylaxis.aspirin_contraindicated.note"),
        source=r.text(tp, "thromboprophylaxis.source"),
    )

    return Protocol(
        path=file,
        study=study,
        eligibility=eligibility,
        treatment_phase=phases["treatment"],
        safety_follow_up_phase=phases["safety_follow_up"],
        regimen=regimen,
        dose_reduction=dose_reduction,
        limits=limits,
        follow_up=follow_up,
        thromboprophylaxis=thrombo,
    )


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Load and validate a protocol file; ``None`` loads the built-in MM-024 protocol.

    >>> load_protocol().regimen.cycle_days
    28
    """
    if path is None:
        source = resources.files("eap.protocol").joinpath(BUILTIN_NAME)
        name = f"<built-in {BUILTIN_NAME}>"
        text = source.read_text(encoding="utf-8")
    else:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProtocolError("protocol file not found", file=name) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"cannot read protocol file ({exc})", file=name) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError(f"not valid TOML ({exc})", file=name) from None
    return parse_protocol(data, name)
