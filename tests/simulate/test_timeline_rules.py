"""Date rules of the virtual cohort that other parts of eap rely on."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from eap.protocol import load_protocol, treatment_eligible_from
from eap.simulate import simulate


@pytest.mark.parametrize(("seed", "scale"), [(2014, 10), (7, 3)])
def test_treatment_cohort_consents_on_or_after_the_protocols_anniversary(
    seed: int, scale: int
) -> None:
    """The protocol decides eligibility in calendar years (366 days across 29 February);
    the cohort must agree, or a study database refuses its own virtual patients."""
    protocol = load_protocol()
    dm = simulate(seed, scale)["DM"].frame.filter(pl.col("ARMCD") == "TP")
    late = [
        (u, start, consent)
        for u, start, consent in dm.select("USUBJID", "RFXSTDTC", "RFICDTC").iter_rows()
        if dt.date.fromisoformat(consent)
        < treatment_eligible_from(protocol, dt.date.fromisoformat(start))
    ]
    assert dm.height == 41 * scale and late == []
