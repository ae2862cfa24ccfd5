"""``eap derive --explain`` and the study sections of docs/derivations.md, word for word,
for studies that set the rules the built-in ones leave out (an always-emergent filter,
a long-treatment threshold without an end-of-treatment rule, a source without
SRCDOM, a filter with ``|``, a study folder that is not built in)."""

from __future__ import annotations

from pathlib import Path

from eap.derive.docs import explain, study_markdown
from eap.plans import load_study
from tests.conftest import DATA
from tests.tiny_study import one_arm_study

STUDY = (
    one_arm_study("Trial T")
    + """
[adae]
te_window_days = 0
always_emergent = "AECAT == 'X' | AECAT == 'Y'"

[adex]
long_treatment_weeks = 52

[endpoints.TTR]
param = "Time to relapse"
origin = { label = "start", dataset = "DM", date = "RFXSTDTC" }
events = [{ name = "R", description = "Relapse", dataset = "MB", date = "MBDTC" }]
"""
)


def test_explain_and_markdown_of_a_study_folder(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(STUDY)
    study = load_study(tmp_path)
    assert explain(study).splitlines() == [
        "T: Trial T",
        f"study file: {tmp_path / 'study.toml'}",
        "study drug: DRUG",
        "data cutoff: none in study.toml: the latest complete date in the data, unless one "
        "is given",
        "month: 30.4375 days",
        "protocol: none",
        "arms: TRT01P from DM.ARM, TRT01A from DM.ACTARM",
        "ADAE:",
        "  TRTEMFL: ASTDT >= TRTSDT and ASTDT <= TRTEDT + 0 days",
        "  TRTEMFL: also when AECAT == 'X' | AECAT == 'Y' (from TRTSDT on)",
        "ADEX: no cycle length: NINTERR counts only gaps inside a cycle",
        "ADTTE:",
        "  TTR: Time to relapse; AVAL in months from start (DM.RFXSTDTC)",
        "    events (the earliest wins; a tie goes to the one listed first):",
        "      1. R (event, CNSR 0): first MB record, dated by MBDTC; EVNTDESC 'Relapse'; "
        "SRCDOM.SRCVAR MB.MBDTC",
        "    censoring (the first listed that has a date):",
    ]
    assert study_markdown(study) == [
        f"### T (`--study {tmp_path}`)",
        "",
        "- Study drug: DRUG; treatments: DRUG",
        "- Data cutoff: none in study.toml: the latest complete date in the data, unless one "
        "is given",
        "- Month: 30.4375 days",
        "- Protocol: none (no planned dose intensity in ADEX)",
        "- Arms: TRT01P from DM.ARM, TRT01A from DM.ACTARM",
        "",
        "ADAE:",
        "",
        "| Variable | Label | Rule |",
        "|---|---|---|",
        "| TRTEMFL | Treatment Emergent Analysis Flag | ASTDT >= TRTSDT and ASTDT <= TRTEDT "
        "+ 0 days |",
        # A | inside a cell would split the Markdown table: it is written as /.
        "| TRTEMFL |  | also when AECAT == 'X' / AECAT == 'Y' (from TRTSDT on) |",
        "",
        "ADEX: end of treatment: the last dose; treated beyond 52 weeks; no cycle length: "
        "NINTERR counts only gaps inside a cycle.",
        "",
        "ADTTE endpoints (events: the earliest wins; censorings: the first listed with",
        "a date; CNSR 0 = event, positive = censoring reason):",
        "",
        "**TTR**, Time to relapse: AVAL in months from start (DM.RFXSTDTC).",
        "",
        "| Kind | Source | CNSR | Date | Description | SRCDOM.SRCVAR |",
        "|---|---|---|---|---|---|",
        "| event | R | 0 | first MB record, dated by MBDTC | Relapse | MB.MBDTC |",
        "",
    ]


def test_explain_of_the_toy_study_and_the_pilot() -> None:
    toy = load_study(DATA / "toy_study")
    assert explain(toy).splitlines()[5:11] == [
        "protocol: none",
        "arms: TRT01P from DM.ARM, TRT01A from DM.ACTARM",
        "ADAE:",
        "  TRTEMFL: ASTDT >= TRTSDT and ASTDT <= TRTEDT + 7 days",
        "ADEX: no cycle length: NINTERR counts only gaps inside a cycle",
        "ADTTE:",
    ]
    pilot = load_study("cdisc-pilot")
    assert explain(pilot).splitlines()[5:] == [
        "protocol: none",
        "arms: TRT01P from DM.ARM, TRT01A from DM.ARM",
        "ADSL:",
        "  AGEGR1 (Pooled Age Group 1): '<65' when AGE < 65; '65-80' when AGE >= 65 and "
        "AGE <= 80; '>80' when AGE > 80",
        "ADAE:",
        "  TRTEMFL: ASTDT >= TRTSDT (no window after the last dose)",
        "ADEX: no cycle length: NINTERR counts only gaps inside a cycle",
        "ADTTE: no endpoints",
    ]


def test_explain_of_mm024_names_its_protocol_response_and_endpoints() -> None:
    lines = explain(load_study("mm024")).splitlines()
    assert "protocol: mm024" in lines
    assert lines.index("ADSL:") < lines.index("ADAE:") < lines.index("ADTTE:")
    assert (
        "ADRS: IMWG, RS records where RSCAT == 'IMWG' and RSTESTCD == 'OVRLRESP'; "
        "sCR > CR > VGPR > PR > MR > SD > PD > NE; responders sCR, CR, VGPR, PR"
    ) in lines
    assert any(
        line.startswith("  PFS: Progression-Free Survival (months); AVAL in months from first")
        for line in lines
    )
