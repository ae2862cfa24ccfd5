"""The study.toml of a tiny study that plan tests write beside their ADaM."""

from __future__ import annotations

import polars as pl


def tiny_study(
    title: str = "A tiny study", *, arms: tuple[str, ...] = ("A", "B"), total: bool = True
) -> str:
    """A study with planned/actual arms TRT01P/TRT01A labelled "Arm X", and one
    population ``all`` (SAFFL == 'Y')."""
    levels = ", ".join(f'{{ value = "{a}", label = "Arm {a}" }}' for a in arms)
    return f"""
[study]
id = "TINY"
title = "{title}"

[treatments]
study_drug = "DRUG"

[arms]
planned = "TRT01P"
actual = "TRT01A"
total = {str(total).lower()}
levels = [{levels}]

[populations.all]
label = "All treated"
where = "SAFFL == 'Y'"
"""


def one_arm_study(title: str = "T") -> str:
    """The head of a one-arm study "T" (arm A, population ``all`` = ITTFL == 'Y') that
    derivation tests complete with the rule tables they are about."""
    return f"""
[study]
id = "T"
title = "{title}"

[treatments]
study_drug = "DRUG"

[arms]
planned = "TRT01P"
actual = "TRT01A"
levels = [{{ value = "A" }}]

[populations.all]
where = "ITTFL == 'Y'"
"""


def imwg_subject(results: list[str], dates: list[str]) -> dict[str, pl.DataFrame]:
    """DM and RS of one subject S (first dose 2013-01-01, alive) with IMWG overall
    responses ``results`` on ``dates``."""
    dm = pl.DataFrame(
        {"STUDYID": ["X"], "USUBJID": ["S"], "RFXSTDTC": ["2013-01-01"], "DTHDTC": [None]},
        schema_overrides={"DTHDTC": pl.String},
    )
    n = len(results)
    rs = pl.DataFrame(
        {
            "USUBJID": ["S"] * n,
            "RSSEQ": list(range(1, n + 1)),
            "RSCAT": ["IMWG"] * n,
            "RSTESTCD": ["OVRLRESP"] * n,
            "RSSTRESC": results,
            "RSDTC": dates,
        }
    )
    return {"DM": dm, "RS": rs}
