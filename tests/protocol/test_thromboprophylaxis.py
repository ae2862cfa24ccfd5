"""VTE prophylaxis recommendation (publication, Methods: Study design and treatment)."""

from __future__ import annotations

from eap.protocol import Protocol, recommend_thromboprophylaxis


def test_high_risk_gets_low_dose_aspirin(protocol: Protocol) -> None:
    rec = recommend_thromboprophylaxis(protocol, high_vte_risk=True, aspirin_contraindicated=False)
    assert rec.recommended
    assert rec.options == ("aspirin 70-100 mg oral daily",)
    assert "high risk of VTE" in rec.reason
    assert "Publication" in rec.source


def test_aspirin_contraindicated_gets_the_alternatives(protocol: Protocol) -> None:
    rec = recommend_thromboprophylaxis(protocol, high_vte_risk=True, aspirin_contraindicated=True)
    assert rec.recommended
    assert len(rec.options) == 3
    assert rec.options[0] == "low-molecular-weight heparin"
    assert "vitamin K antagonist" in rec.options[1]
    assert "hospital guidelines" in rec.options[2]
    assert "aspirin contraindicated" in rec.reason


def test_not_high_risk_gets_no_protocol_prophylaxis(protocol: Protocol) -> None:
    for contraindicated in (False, True):
        rec = recommend_thromboprophylaxis(
            protocol, high_vte_risk=False, aspirin_contraindicated=contraindicated
        )
        assert not rec.recommended
        assert rec.options == ()
        assert "not at high risk" in rec.reason
        assert rec.as_dict()["options"] == []
