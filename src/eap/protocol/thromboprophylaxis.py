"""Thromboprophylaxis for patients at high risk of venous thromboembolism (VTE).

Rule (publication, Methods: Study design and treatment), held as data in the
protocol file: a patient at high risk of VTE gets oral low-dose aspirin 70-100 mg
daily; when aspirin is contraindicated, low-molecular-weight heparin, warfarin
or an equivalent vitamin K antagonist, or another anti-thrombotic prophylaxis per
hospital guidelines. The protocol prescribes nothing for patients not at high risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eap.protocol.model import Protocol


@dataclass(frozen=True)
class Recommendation:
    """What to give (possibly nothing), why, and where the rule comes from."""

    recommended: bool
    options: tuple[str, ...]
    reason: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "recommended": self.recommended,
            "options": list(self.options),
            "reason": self.reason,
            "source": self.source,
        }


def recommend_thromboprophylaxis(
    protocol: Protocol, *, high_vte_risk: bool, aspirin_contraindicated: bool
) -> Recommendation:
    """Recommendation for one patient.

    >>> from eap.protocol import load_protocol
    >>> recommend_thromboprophylaxis(load_protocol(), high_vte_risk=True,
    ...     aspirin_contraindicated=False).options
    ('aspirin 70-100 mg oral daily',)
    """
    rule = protocol.thromboprophylaxis
    if not high_vte_risk:
        return Recommendation(
            False,
            (),
            "not at high risk of VTE: the protocol prescribes no prophylaxis "
            "(physician's judgement applies)",
            rule.source,
        )
    if aspirin_contraindicated:
        return Recommendation(
            True,
            rule.aspirin_contraindicated,
            "high risk of VTE and aspirin contraindicated: one of the alternatives, "
            + rule.aspirin_contraindicated_note,
            rule.source,
        )
    a = rule.high_risk
    return Recommendation(
        True,
        (f"{a.agent} {a.dose_min:g}-{a.dose_max:g} {a.unit} {a.route} {a.frequency}",),
        f"high risk of VTE and aspirin not contraindicated: {a.note}",
        rule.source,
    )
