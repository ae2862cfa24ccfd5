"""What the ``eap protocol`` commands print: plain data for ``--json`` and Rich tables.

The command-line functions only parse options and call these; every rule is in
the other modules of :mod:`eap.protocol`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from eap.errors import ProtocolError
from eap.protocol._parse import parse_date
from eap.protocol.calendar import (
    CycleCalendar,
    cycle_calendar,
    dose_level,
    level_for_crcl,
    planned_dose_intensity,
)
from eap.protocol.dosing import (
    DoseLevel,
    cockcroft_gault,
    parse_creatinine_unit,
    parse_frequency,
    starting_dose,
)
from eap.protocol.eligibility import RolloverDecision, decide_rollover, read_rollover_file
from eap.protocol.model import Frequency, Protocol
from eap.protocol.schedule import FollowUpSchedule, VisitStatus, read_visits_file
from eap.protocol.thromboprophylaxis import recommend_thromboprophylaxis


def day_list(days: Sequence[int]) -> str:
    """Compact cycle days: consecutive runs as ranges (``1-21``), others listed.

    >>> day_list([1, 8, 15, 22])
    '1, 8, 15, 22'
    """
    parts: list[str] = []
    run: list[int] = []
    for d in [*days, -1]:
        if run and d == run[-1] + 1:
            run.append(d)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)))
        run = [d]
    return ", ".join(parts)


def _freq_text(frequency: Frequency) -> str:
    return "daily" if frequency is Frequency.DAILY else "every other day"


def _level_dict(protocol: Protocol, level: DoseLevel) -> dict[str, Any]:
    le = protocol.regimen.lenalidomide
    days = le.dosing_days(level.frequency)
    return {
        "drug": le.name,
        "dose": level.dose,
        "unit": level.unit,
        "frequency": level.frequency.value,
        "days": list(days),
        "description": level.describe(le.first_day, le.last_day),
        "planned_dose_intensity_mg_per_day": planned_dose_intensity(protocol, level),
    }


# --------------------------------------------------------------------------- show


def protocol_dict(protocol: Protocol) -> dict[str, Any]:
    """The whole protocol as plain data (JSON-ready)."""
    reg = protocol.regimen
    tp = protocol.thromboprophylaxis
    return {
        "file": protocol.path,
        "study": vars(protocol.study),
        "eligibility": {
            "treatment_min_years_on_rd": protocol.eligibility.treatment_min_years_on_rd,
            "exclusions": dict(protocol.eligibility.exclusions),
            "source": protocol.eligibility.source,
        },
        "phases": {
            "treatment": vars(protocol.treatment_phase),
            "safety_follow_up": vars(protocol.safety_follow_up_phase),
        },
        "regimen": {
            "cycle_days": reg.cycle_days,
            "lenalidomide": {
                "name": reg.lenalidomide.name,
                "unit": reg.lenalidomide.unit,
                "first_day": reg.lenalidomide.first_day,
                "last_day": reg.lenalidomide.last_day,
                "renal_bands": [
                    {
                        "label": b.label,
                        "crcl_min": b.crcl_min,
                        "crcl_max": None if b.crcl_max == float("inf") else b.crcl_max,
                        "dose": b.dose,
                        "frequency": b.frequency.value,
                    }
                    for b in reg.lenalidomide.renal_bands
                ],
            },
            "dexamethasone": {
                "name": reg.dexamethasone.name,
                "unit": reg.dexamethasone.unit,
                "dose": reg.dexamethasone.dose,
                "days": list(reg.dexamethasone.days),
            },
            "keep_parent_trial_dose": reg.keep_parent_trial_dose,
            "source": reg.source,
        },
        "dose_reduction": {
            "drug": protocol.dose_reduction.drug,
            "ladder": list(protocol.dose_reduction.ladder),
            "triggers": [vars(t) for t in protocol.dose_reduction.triggers],
            "source": protocol.dose_reduction.source,
            "label_version": protocol.dose_reduction.label_version,
        },
        "limits": vars(protocol.limits),
        "follow_up": vars(protocol.follow_up),
        "thromboprophylaxis": {
            "high_risk": vars(tp.high_risk),
            "aspirin_contraindicated": list(tp.aspirin_contraindicated),
            "aspirin_contraindicated_note": tp.aspirin_contraindicated_note,
            "source": tp.source,
        },
    }


def _kv(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def protocol_view(protocol: Protocol) -> RenderableType:
    """A readable summary of the whole protocol."""
    p = protocol
    reg = p.regimen
    le, dx = reg.lenalidomide, reg.dexamethasone
    parts: list[RenderableType] = [
        Text(f"{p.study.id}: {p.study.title}", style="bold"),
        Text(
            f"Parent study {p.study.parent_study}; {p.study.registry_id}; "
            f"{p.study.sponsor_registration}. Protocol file: {p.path}"
        ),
    ]
    el = p.eligibility
    parts.append(
        _kv(
            "Rollover and phases",
            [
                (p.treatment_phase.name, p.treatment_phase.description),
                (p.safety_follow_up_phase.name, p.safety_follow_up_phase.description),
                ("Not eligible", "; ".join(el.exclusions.values())),
                ("Source", el.source),
            ],
        )
    )
    bands = Table(title=f"Regimen: {reg.cycle_days}-day cycles", title_justify="left")
    for col in ("Drug", "CrCl (mL/min)", "Dose", "Schedule", "Planned intensity (mg/day)"):
        bands.add_column(col)
    for b in sorted(le.renal_bands, key=lambda b: -b.crcl_min):
        hi = "" if b.crcl_max == float("inf") else f"< {b.crcl_max:g}"
        lo = f">= {b.crcl_min:g}" if b.crcl_min > 0 else ""
        level = DoseLevel(b.dose, b.frequency, le.unit)
        bands.add_row(
            le.name,
            " and ".join(x for x in (lo, hi) if x),
            f"{b.dose:g} {le.unit}",
            f"{_freq_text(b.frequency)}, days {le.first_day}-{le.last_day}",
            f"{planned_dose_intensity(p, level):.4g}",
        )
    bands.add_row(
        dx.name,
        "any",
        f"{dx.dose:g} {dx.unit}",
        f"days {day_list(dx.days)}",
        f"{dx.dose * len(dx.days) / reg.cycle_days:.4g}",
    )
    parts.append(bands)
    parts.append(
        Text(
            "Dose carried over from the parent trial is "
            + ("kept" if reg.keep_parent_trial_dose else "not kept")
            + "; the renal-adjusted dose is the full planned dose. Source: "
            + reg.source
        )
    )
    dr = p.dose_reduction
    parts.append(
        _kv(
            f"Dose reduction ({dr.drug})",
            [
                ("Ladder", " -> ".join(f"{d:g} mg" for d in dr.ladder)),
                *[
                    (
                        t.toxicity,
                        f"interrupt when {t.interrupt_when}; resume when "
                        f"{t.resume_when} at {t.resume_at}",
                    )
                    for t in dr.triggers
                ],
                ("Source", dr.source),
                ("Label version", dr.label_version),
            ],
        )
    )
    fu = p.follow_up
    tp = p.thromboprophylaxis
    hr = tp.high_risk
    parts.append(
        _kv(
            "Limits, follow-up, thromboprophylaxis",
            [
                (
                    "Treatment limit",
                    f"up to {p.limits.max_total_treatment_years} years of Rd in total from the "
                    f"lenalidomide start in {p.study.parent_study} ({p.limits.source})",
                ),
                (
                    "Follow-up",
                    f"survival and SPM every {fu.interval_months} months +/- {fu.window_days} "
                    f"days, until {fu.years_after_last_parent_enrollment} years after the last "
                    f"{p.study.parent_study} enrollment ({fu.source})",
                ),
                (
                    "High VTE risk",
                    f"{hr.agent} {hr.dose_min:g}-{hr.dose_max:g} {hr.unit} {hr.route} "
                    f"{hr.frequency} ({hr.note})",
                ),
                ("Aspirin contraindicated", "; ".join(tp.aspirin_contraindicated)),
                ("Source", tp.source),
            ],
        )
    )
    return Group(*parts)


# --------------------------------------------------------------------------- dose


def dose_dict(
    protocol: Protocol,
    *,
    crcl: float | None = None,
    age: float | None = None,
    weight_kg: float | None = None,
    creatinine: float | None = None,
    sex: str | None = None,
    creatinine_unit: str = "mg/dL",
    carried_over_dose: float | None = None,
    carried_over_frequency: str | None = None,
) -> dict[str, Any]:
    """CrCl (given or by Cockcroft-Gault), renal band, starting dose and schedule."""
    inputs = {"age": age, "weight_kg": weight_kg, "creatinine": creatinine, "sex": sex}
    given = [k for k, v in inputs.items() if v is not None]
    if crcl is not None and given:
        raise ProtocolError(
            "give either CrCl or the Cockcroft-Gault inputs, not both",
            variable="crcl",
            expected="--crcl alone, or --age, --weight-kg, --creatinine and --sex",
            found="--crcl and --" + ", --".join(g.replace("_", "-") for g in given),
        )
    method: dict[str, Any]
    if crcl is None:
        missing = [k for k, v in inputs.items() if v is None]
        if missing:
            raise ProtocolError(
                "not enough to compute creatinine clearance",
                variable=missing[0],
                expected="--crcl, or all of --age, --weight-kg, --creatinine, --sex",
                found="missing --" + ", --".join(m.replace("_", "-") for m in missing),
            )
        assert age is not None and weight_kg is not None and creatinine is not None
        assert sex is not None
        unit = parse_creatinine_unit(creatinine_unit)
        crcl = cockcroft_gault(age, weight_kg, sex, creatinine, unit)
        method = {
            "method": "Cockcroft-Gault",
            "age": age,
            "weight_kg": weight_kg,
            "sex": sex.upper(),
            "creatinine": creatinine,
            "creatinine_unit": unit.value,
        }
    else:
        method = {"method": "given"}
    freq = (
        parse_frequency(carried_over_frequency, "carried_over_frequency")
        if carried_over_frequency
        else None
    )
    sd = starting_dose(protocol, crcl, carried_over_dose, freq)
    dx = protocol.regimen.dexamethasone
    return {
        "crcl_ml_min": sd.crcl,
        "crcl": method,
        "renal_band": {
            "label": sd.band.label,
            "crcl_min": sd.band.crcl_min,
            "crcl_max": None if sd.band.crcl_max == float("inf") else sd.band.crcl_max,
        },
        "full_dose": _level_dict(protocol, sd.full),
        "starting_dose": _level_dict(protocol, sd.planned),
        "carried_over": sd.carried_over,
        "dexamethasone": {
            "drug": dx.name,
            "dose": dx.dose,
            "unit": dx.unit,
            "days": list(dx.days),
        },
        "cycle_days": protocol.regimen.cycle_days,
        "reasons": list(sd.reasons),
    }


def dose_view(result: dict[str, Any]) -> RenderableType:
    crcl = result["crcl"]
    how = (
        f"Cockcroft-Gault from age {crcl['age']:g}, weight {crcl['weight_kg']:g} kg, sex "
        f"{crcl['sex']}, creatinine {crcl['creatinine']:g} {crcl['creatinine_unit']}"
        if crcl["method"] == "Cockcroft-Gault"
        else "as given"
    )
    start, full, dx = result["starting_dose"], result["full_dose"], result["dexamethasone"]
    rows = [
        ("CrCl", f"{result['crcl_ml_min']:.1f} mL/min ({how})"),
        ("Renal band", result["renal_band"]["label"]),
        ("Full planned dose", full["description"]),
        (
            "Starting dose",
            start["description"] + (" (carried over)" if result["carried_over"] else ""),
        ),
        (
            "Schedule",
            f"{result['cycle_days']}-day cycles: {start['drug']} {start['dose']:g} "
            f"{start['unit']} on days {day_list(start['days'])}; {dx['drug']} {dx['dose']:g} "
            f"{dx['unit']} on days {day_list(dx['days'])}",
        ),
        (
            "Planned dose intensity",
            f"{start['planned_dose_intensity_mg_per_day']:.4g} mg/day "
            f"(full dose: {full['planned_dose_intensity_mg_per_day']:.4g} mg/day)",
        ),
        ("Reasons", "; ".join(result["reasons"])),
    ]
    return _kv("Lenalidomide starting dose", rows)


# --------------------------------------------------------------------------- calendar


def build_calendar(
    protocol: Protocol,
    *,
    start: str,
    cycles: int,
    crcl: float | None = None,
    dose: float | None = None,
    frequency: str | None = None,
) -> CycleCalendar:
    """The calendar for a start date and either a CrCl or an explicit dose level."""
    start_date = parse_date(start, "start")
    if (crcl is None) == (dose is None):
        raise ProtocolError(
            "give exactly one of CrCl or dose",
            variable="dose",
            expected="--crcl, or --dose (with --frequency)",
            found="both" if crcl is not None else "neither",
        )
    if crcl is not None:
        if frequency is not None:
            raise ProtocolError(
                "the frequency follows from CrCl",
                variable="frequency",
                expected="--frequency only with --dose",
                found=frequency,
            )
        level = level_for_crcl(protocol, crcl)
    else:
        assert dose is not None
        freq = parse_frequency(frequency) if frequency else Frequency.DAILY
        level = dose_level(protocol, dose, freq)
    return cycle_calendar(protocol, start_date, cycles, level)


def _frame_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()}
        for row in frame.iter_rows(named=True)
    ]


def calendar_dict(protocol: Protocol, cal: CycleCalendar) -> dict[str, Any]:
    return {
        "start": cal.start.isoformat(),
        "end": cal.end.isoformat(),
        "cycles": cal.cycles,
        "cycle_days": cal.cycle_days,
        "lenalidomide": _level_dict(protocol, cal.level),
        "summary": _frame_records(cal.summary()),
        "administrations": _frame_records(cal.frame),
    }


def calendar_view(cal: CycleCalendar) -> RenderableType:
    table = Table(title="Cycle calendar (planned doses)", title_justify="left")
    for col in ("Cycle", "Cycle dates", "Drug", "Dose", "Days", "Dosing dates"):
        table.add_column(col, overflow="fold")
    per = (
        cal.frame.group_by("CYCLE", "EXTRT", "EXDOSE", "EXDOSU", maintain_order=True)
        .agg(pl.col("DAY"), pl.col("DATE").min().alias("FIRST"), pl.col("DATE").max().alias("LAST"))
        .sort("CYCLE", "EXTRT", descending=[False, True])
    )
    for row in per.iter_rows(named=True):
        c0 = cal.start + dt.timedelta(days=(row["CYCLE"] - 1) * cal.cycle_days)
        c1 = c0 + dt.timedelta(days=cal.cycle_days - 1)
        n = len(row["DAY"])
        table.add_row(
            str(row["CYCLE"]),
            f"{c0} to {c1}",
            row["EXTRT"],
            f"{row['EXDOSE']:g} {row['EXDOSU']}",
            f"{day_list(row['DAY'])} ({n} days)",
            f"{row['FIRST']} to {row['LAST']}",
        )
    summary = Table(
        title=(
            f"Totals over {cal.cycles} cycle{'s' if cal.cycles != 1 else ''} "
            f"({cal.days} days, {cal.start} to {cal.end})"
        ),
        title_justify="left",
    )
    for col in ("Drug", "Dosing days", "Total dose", "Dose intensity (mg/day)"):
        summary.add_column(col)
    for row in cal.summary().iter_rows(named=True):
        summary.add_row(
            row["EXTRT"],
            str(row["DOSING_DAYS"]),
            f"{row['TOTAL_DOSE']:g} {row['EXDOSU']}",
            f"{row['DOSE_INTENSITY']:.4g}",
        )
    return Group(table, summary)


# --------------------------------------------------------------------------- eligibility


def eligibility_decisions(protocol: Protocol, path: Path) -> list[RolloverDecision]:
    return [decide_rollover(protocol, f) for f in read_rollover_file(path)]


def eligibility_view(decisions: Sequence[RolloverDecision]) -> RenderableType:
    table = Table(title="Rollover decisions", title_justify="left")
    for col in ("USUBJID", "Assessed", "Outcome", "Reasons"):
        table.add_column(col, overflow="fold")
    for d in decisions:
        outcome = d.phase or "Not eligible"
        table.add_row(d.usubjid, str(d.assessment_date), outcome, "\n".join(d.reasons))
    return table


# --------------------------------------------------------------------------- visits


def visit_schedules(protocol: Protocol, path: Path, as_of: str) -> list[FollowUpSchedule]:
    return read_visits_file(protocol, path, parse_date(as_of, "as_of"))


_STATUS_STYLE = {
    VisitStatus.DONE_IN_WINDOW: "green",
    VisitStatus.DONE_OUT_OF_WINDOW: "yellow",
    VisitStatus.MISSED: "red",
    VisitStatus.COMING_DUE: "cyan",
    VisitStatus.SCHEDULED: "dim",
}


def visits_view(schedules: Sequence[FollowUpSchedule]) -> RenderableType:
    parts: list[RenderableType] = []
    for s in schedules:
        limit = f"; treatment limit {s.treatment_limit_date}" if s.treatment_limit_date else ""
        table = Table(
            title=(
                f"{s.usubjid}: follow-up {s.follow_up_start} to {s.follow_up_end}{limit} "
                f"(as of {s.as_of})"
            ),
            title_justify="left",
        )
        for col in ("Visit", "Target", "Window", "Status", "Visit date", "Days from target"):
            table.add_column(col)
        for v in s.visits:
            if v.status is VisitStatus.SCHEDULED and v.number > 1:
                prev = s.visits[v.number - 2]
                if prev.status is VisitStatus.SCHEDULED:
                    continue  # only the first future visit; the JSON has them all
            table.add_row(
                str(v.number),
                str(v.target),
                f"{v.window_start} to {v.window_end}",
                Text(v.status.value.replace("_", " "), style=_STATUS_STYLE[v.status]),
                str(v.visit_date) if v.visit_date else "",
                f"{v.days_from_target:+d}" if v.days_from_target is not None else "",
            )
        counts = ", ".join(
            f"{s.count(st)} {st.value.replace('_', ' ')}" for st in VisitStatus if s.count(st)
        )
        parts.extend([table, Text(f"{len(s.visits)} visits: {counts}")])
    return Group(*parts)


def thromboprophylaxis_dict(
    protocol: Protocol, *, high_vte_risk: bool, aspirin_contraindicated: bool
) -> dict[str, Any]:
    rec = recommend_thromboprophylaxis(
        protocol, high_vte_risk=high_vte_risk, aspirin_contraindicated=aspirin_contraindicated
    )
    return rec.as_dict()
