"""The study.toml of a tiny study that plan tests write beside their ADaM."""

from __future__ import annotations


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
