"""The study protocol as data: rollover, dosing, cycle calendar, visit schedule.

``load_protocol()`` returns the built-in MM-024 protocol; ``load_protocol(path)``
loads and validates another protocol file of the same shape. Every other
function takes the :class:`Protocol` explicitly, so no rule is hidden in code.

>>> from eap.protocol import load_protocol, starting_dose
>>> starting_dose(load_protocol(), 45).planned.dose
10.0
"""

from eap.protocol.calendar import (
    CycleCalendar,
    administration_summary,
    cycle_calendar,
    dose_level,
    level_for_crcl,
    planned_administrations,
    planned_dose_intensity,
    relative_dose_intensity,
)
from eap.protocol.dosing import (
    CreatinineUnit,
    DoseLevel,
    Sex,
    StartingDose,
    check_on_ladder,
    cockcroft_gault,
    dose_level_index,
    reduce_dose,
    renal_band,
    starting_dose,
)
from eap.protocol.eligibility import (
    DiscontinuationReason,
    Outcome,
    PhaseChange,
    RolloverDecision,
    RolloverFacts,
    decide_rollover,
    read_rollover_file,
    stop_treatment,
    treatment_eligible_from,
)
from eap.protocol.model import Frequency, Protocol, RenalBand, load_protocol
from eap.protocol.schedule import (
    FollowUpSchedule,
    ScheduledVisit,
    VisitStatus,
    read_visits_file,
    treatment_limit_date,
    visit_schedule,
)
from eap.protocol.thromboprophylaxis import Recommendation, recommend_thromboprophylaxis

__all__ = [
    "CreatinineUnit",
    "CycleCalendar",
    "DiscontinuationReason",
    "DoseLevel",
    "FollowUpSchedule",
    "Frequency",
    "Outcome",
    "PhaseChange",
    "Protocol",
    "Recommendation",
    "RenalBand",
    "RolloverDecision",
    "RolloverFacts",
    "ScheduledVisit",
    "Sex",
    "StartingDose",
    "VisitStatus",
    "administration_summary",
    "check_on_ladder",
    "cockcroft_gault",
    "cycle_calendar",
    "decide_rollover",
    "dose_level",
    "dose_level_index",
    "level_for_crcl",
    "load_protocol",
    "planned_administrations",
    "planned_dose_intensity",
    "read_rollover_file",
    "read_visits_file",
    "recommend_thromboprophylaxis",
    "reduce_dose",
    "relative_dose_intensity",
    "renal_band",
    "starting_dose",
    "stop_treatment",
    "treatment_eligible_from",
    "treatment_limit_date",
    "visit_schedule",
]
