"""The derivation rule of each ADaM variable (define.xml's MethodDefs)."""

from __future__ import annotations

import pytest

from eap.derive.docs import _bullet_names, _bullets, variable_rules
from eap.plans import load_study


@pytest.mark.parametrize(
    ("bullet", "names"),
    [
        ('**TRTEMFL** "Y" when ASTDT >= TRTSDT', ["TRTEMFL"]),
        (
            "**ASTDT/ASTDTF, AENDT/AENDTF** from CMSTDTC/CMENDTC",
            ["ASTDT", "ASTDTF", "AENDT", "AENDTF"],
        ),
        (
            '**ATOXGRN** the CTCAE grade as a number; **TOXG34FL** "Y" for 3 or 4.',
            ["ATOXGRN", "TOXG34FL"],
        ),
        # A bold heading that is no variable: the names right after it.
        ("**Dates** ASTDT/AENDT from AESTDTC/AEENDTC.", ["ASTDT", "AENDT"]),
        ("**Subject variables** joined from ADSL by USUBJID", []),
        # Unbolded: the leading name (ADEX's and ADRS's parameter codes).
        ("TRTDURM, treatment duration (months): ...", ["TRTDURM"]),
        ("BOR (best overall response): the best category", ["BOR"]),
        ("GTnnWK, treated beyond nn weeks", []),
        ('Study flags (``[adae.flags]``): "Y" where', []),
    ],
)
def test_the_names_a_rule_bullet_is_about(bullet: str, names: list[str]) -> None:
    assert _bullet_names(bullet) == names


def test_bullets_end_at_a_blank_line_and_join_their_lines() -> None:
    doc = """Title.

    * **A1** first
      line two
    * B2, second

    After the list.
    """
    assert _bullets(doc) == ["**A1** first line two", "B2, second"]


def test_mm024_rules() -> None:
    rules = variable_rules(load_study("mm024"))
    # The study's own 28-day treatment-emergent window, then the module's rule.
    assert rules["ADAE"]["TRTEMFL"].startswith(
        'ASTDT >= TRTSDT and ASTDT <= TRTEDT + 28 days; TRTEMFL "Y" when'
    )
    assert rules["ADSL"]["SAFFL"] == (
        "Y when the subject has at least one EX record with a dose (placebo included), "
        "else N (source: EX.EXDOSE)"
    )
    # One rule per parameter code, and ADTTE's numbered rules for AVAL.
    assert set(rules["ADEX"]) >= {"TRTDURM", "CUMDOSE", "RDI", "NINTERR"}
    assert set(rules["ADTTE"]) == {"PFS", "TTP", "OS", "DOR", "FUP", "AVAL", "ADT", "CNSR"}
    assert rules["ADTTE"]["AVAL"].startswith("1. Every record dated after the data cutoff")
    assert "5. AVAL = ADT - STARTDT + 1 days" in rules["ADTTE"]["AVAL"]
    assert "``" not in " ".join(r for by in rules.values() for r in by.values())
