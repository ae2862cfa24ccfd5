"""CTCAE v4.03 terms and grade definitions, from the package's data/ctcae_v4_03.csv.

An empty grade text means that grade is not defined for the term (for example
"Myelodysplastic syndrome" has no grade 1 or 2); recording it is an edit-check error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

# CTCAE terms that are second primary malignancies; such an AE is serious whatever the
# site ticks (MM-024 followed SPMs as events of interest).
SPM_TERMS = frozenset(
    {
        "Leukemia secondary to oncology chemotherapy",
        "Myelodysplastic syndrome",
        "Treatment related secondary malignancy",
    }
)


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE term: its SOC, MedDRA code and the text of grades 1-5 ('' = not defined)."""

    term: str
    soc: str
    meddra_code: str
    grades: tuple[str, str, str, str, str]
    definition: str

    def grade_text(self, grade: int) -> str | None:
        """The grade's definition, or None when the grade is not defined for this term."""
        if not 1 <= grade <= 5:
            return None
        text = self.grades[grade - 1].strip()
        return text or None

    def defined_grades(self) -> list[int]:
        return [g for g in range(1, 6) if self.grade_text(g)]


@cache
def terms() -> dict[str, CtcaeTerm]:
    """Every CTCAE term by name (first occurrence wins; names are unique in v4.03)."""
    text = resources.files("eap.data").joinpath("ctcae_v4_03.csv").read_text(encoding="utf-8")
    out: dict[str, CtcaeTerm] = {}
    for row in csv.DictReader(text.splitlines(keepends=True)):
        name = row["term"].strip()
        if name and name not in out:
            out[name] = CtcaeTerm(
                term=name,
                soc=row["soc"].strip(),
                meddra_code=row["meddra_code"].strip(),
                grades=(row["grade1"], row["grade2"], row["grade3"], row["grade4"], row["grade5"]),
                definition=row["definition"].strip(),
            )
    return out


def lookup(term: str) -> CtcaeTerm | None:
    """The term by exact name, else case-insensitively, else None."""
    table = terms()
    if term in table:
        return table[term]
    folded = term.strip().casefold()
    return next((t for name, t in table.items() if name.casefold() == folded), None)


def search(query: str, limit: int = 20) -> list[CtcaeTerm]:
    """Terms whose name contains ``query`` (case-insensitive), names starting with it first."""
    q = query.strip().casefold()
    if not q:
        return []
    hits = [t for name, t in terms().items() if q in name.casefold()]
    hits.sort(key=lambda t: (not t.term.casefold().startswith(q), t.term))
    return hits[:limit]
