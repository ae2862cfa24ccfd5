"""docs/derivations.md, generated from the derivations' own metadata.

``python -m eap.derive.docs > docs/derivations.md`` writes it; a test fails when
the file and the code disagree, so the documentation cannot drift.
"""

from __future__ import annotations

import inspect

from eap.derive import adae, adex, adrs, adsl, adtte


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return out


def derivations_markdown() -> str:
    """The whole document."""
    lines = [
        "# ADaM derivations",
        "",
        "Generated from the code (`python -m eap.derive.docs > docs/derivations.md`);",
        "every rule below is the one the functions in `src/eap/derive/` apply.",
        "`eap derive SDTM_DIR --out ADAM_DIR [--cutoff 2014-11-05]` runs them all.",
        "Records dated after the data cutoff are excluded everywhere.",
        "",
        "## ADSL (`eap.derive.adsl`)",
        "",
        *_table(("Variable", "Label", "Rule", "Source"), [tuple(r) for r in adsl.RULES]),
        "",
        "## ADAE (`eap.derive.adae`)",
        "",
        inspect.cleandoc(adae.__doc__ or ""),
        "",
        *_table(("Variable", "Label"), sorted(adae.LABELS.items())),
        "",
        "## ADEX (`eap.derive.adex`)",
        "",
        inspect.cleandoc(adex.__doc__ or ""),
        "",
        "## ADTTE (`eap.derive.adtte`)",
        "",
        inspect.cleandoc(adtte.__doc__ or ""),
        "",
        "Parameters and their ordered sources (CNSR 0 = event; positive = censoring reason):",
        "",
    ]
    rows: list[tuple[str, ...]] = []
    for p in adtte.PARAMETERS:
        for kind, sources in (("event", p.events), ("censoring", p.censors)):
            for s in sources:
                rows.append(
                    (
                        p.paramcd,
                        p.origin,
                        kind,
                        s.name,
                        str(s.cnsr),
                        s.description,
                        f"{s.srcdom}.{s.srcvar}",
                    )
                )
    rows.append(
        (
            "FUP",
            "parent-trial enrollment",
            "end",
            "death / lost / cutoff",
            "1 / 2 / 0",
            "Follow-up ended by death, last contact when lost, else the cutoff",
            "DS, DM",
        )
    )
    lines += _table(("PARAMCD", "Origin", "Kind", "Source", "CNSR", "Description", "From"), rows)
    lines += ["", "## ADRS (`eap.derive.adrs`)", "", inspect.cleandoc(adrs.__doc__ or ""), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(derivations_markdown())
