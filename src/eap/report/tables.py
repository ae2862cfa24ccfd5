"""Display tables of the MM-024 report, laid out from ARD rows (no computing here).

Each function returns a polars frame with a first column of row labels and one
column per population, formatted as the publication prints them ("n (%)",
"median (min-max)", "median (95% CI)"); percentages are rounded half up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from eap.formatting import round_half_up

POPULATIONS = ("safety", "treatment_cohort")
POP_TITLES = {"safety": "Safety population", "treatment_cohort": "Treatment cohort"}


class Count(str):
    """A formatted count that remembers the USUBJIDs behind it (for the HTML drill-down)."""

    subjects: tuple[str, ...]

    def __new__(cls, text: str, subjects: Sequence[str]) -> Count:
        made = super().__new__(cls, text)
        made.subjects = tuple(subjects)
        return made


@dataclass(frozen=True)
class DisplayTable:
    """An output: stable id, title, body (label column + one column per population), notes.

    ``subjects`` maps (row index, column name) of a count to the USUBJIDs behind it.
    """

    id: str
    title: str
    body: pl.DataFrame
    footnotes: tuple[str, ...]
    subjects: dict[tuple[int, str], tuple[str, ...]] = field(default_factory=dict)


def _span(text: str) -> float:
    """Width of ``text`` in average characters."""
    return sum(1.3 if ch.isupper() else 1.0 for ch in text)


def column_widths(
    table: DisplayTable, total: float, char: float = 4.6, pad: float = 12.0
) -> list[float]:
    """Column widths (in the unit of ``total``) for paged formats.

    Each column gets at least its longest unbreakable word (header or cell), so no word
    is split letter by letter; the space left goes to the columns whose text would
    wrap, in proportion to how much longer their longest line is. ``char`` is the
    average character width (4.6 points at 8-point Helvetica), ``pad`` a cell's padding.
    """
    least: list[float] = []
    want: list[float] = []
    for col in table.body.columns:
        header = f"{POP_TITLES[col]} (N = 000)" if col in POP_TITLES else col
        cells = table.body[col].cast(pl.String).fill_null("").to_list()
        # Headers are bold (10% wider); capitals are about 30% wider than the average.
        spans = [(1.1, w) for w in header.split()] + [(1.0, w) for c in cells for w in c.split()]
        word = max((k * _span(w) for k, w in spans), default=1.0)
        line = min(max((_span(c) for c in cells), default=_span(header)), 45.0)
        least.append(word * char + pad)
        want.append(max(line, word) * char + pad)
    if sum(want) <= total:
        return [w * total / sum(want) for w in want]
    if sum(least) >= total:
        return [w * total / sum(least) for w in least]
    spare, extra = total - sum(least), [w - m for w, m in zip(want, least, strict=True)]
    return [m + spare * e / sum(extra) for m, e in zip(least, extra, strict=True)]


def table(
    id: str,
    title: str,
    rows: Sequence[Sequence[str]],
    columns: Sequence[str],
    footnotes: tuple[str, ...],
) -> DisplayTable:
    """A display table from rows of cells; the subjects of :class:`Count` cells are kept."""
    subjects = {
        (i, col): cell.subjects
        for i, row in enumerate(rows)
        for col, cell in zip(columns, row, strict=True)
        if isinstance(cell, Count)
    }
    body = pl.DataFrame([tuple(map(str, r)) for r in rows], schema=list(columns), orient="row")
    return DisplayTable(id, title, body, footnotes, subjects)


class Cells:
    """Formats ARD values for one population."""

    def __init__(self, ard: pl.DataFrame, pop: str) -> None:
        self.ard = ard.filter(pl.col("POPULATION") == pop)

    def _rows(self, analysis: str, variable: str, level: str | None, stat: str) -> pl.DataFrame:
        return self.ard.filter(
            (pl.col("ANALYSIS") == analysis)
            & (pl.col("VARIABLE") == variable)
            & (pl.col("STAT") == stat)
            & (pl.col("LEVEL").is_null() if level is None else pl.col("LEVEL") == level)
        )

    def value(self, analysis: str, variable: str, level: str | None, stat: str) -> float | None:
        f = self._rows(analysis, variable, level, stat)
        return None if f.height == 0 else f["VALUE"][0]

    def subjects(self, analysis: str, variable: str, level: str | None, stat: str) -> list[str]:
        f = self._rows(analysis, variable, level, stat)
        return [] if f.height == 0 else list(f["SUBJECTS"][0])

    def n_pct(self, analysis: str, variable: str, level: str | None = None) -> Count:
        n = self.value(analysis, variable, level, "n") or 0.0
        pct = self.value(analysis, variable, level, "pct") or 0.0
        return Count(
            f"{int(n)} ({round_half_up(pct, 1)})", self.subjects(analysis, variable, level, "n")
        )

    def number(self, analysis: str, variable: str, stat: str, digits: int = 1) -> str:
        v = self.value(analysis, variable, None, stat)
        return "NE" if v is None else str(round_half_up(v, digits))

    def median_range(self, analysis: str, variable: str, digits: int = 1) -> str:
        med = self.number(analysis, variable, "median", digits)
        lo, hi = (
            self.number(analysis, variable, "min", digits),
            self.number(analysis, variable, "max", digits),
        )
        return f"{med} ({lo}-{hi})"

    def mean_range(self, analysis: str, variable: str, digits: int = 1) -> str:
        mean = self.number(analysis, variable, "mean", digits)
        lo, hi = (
            self.number(analysis, variable, "min", digits),
            self.number(analysis, variable, "max", digits),
        )
        return f"{mean} ({lo}-{hi})"

    def km(self, param: str) -> str:
        med = self.value("TTET01", param, None, "median")
        if med is None:
            return "NE"
        lo = self.number("TTET01", param, "lower")
        hi = self.number("TTET01", param, "upper")
        return f"{round_half_up(med, 1)} ({lo}-{hi})"


BY_POPULATION = ("Characteristic", *POPULATIONS)


def header_n(ard: pl.DataFrame) -> dict[str, int]:
    """N of each population, for the column headers."""
    return {pop: int(Cells(ard, pop).value("DMT01", "N", None, "N") or 0) for pop in POPULATIONS}


def baseline_table(ard: pl.DataFrame) -> DisplayTable:
    c = {pop: Cells(ard, pop) for pop in POPULATIONS}

    def row(label: str, f: str, *args: str | None) -> tuple[str, ...]:
        return (label, *(getattr(c[p], f)(*args) for p in POPULATIONS))

    rows = [
        row("Age, years: median (range)", "median_range", "DMT01", "AGE"),
        row("Age <= 65 years", "n_pct", "DMT01", "AGEGR1", "<=65"),
        row("Age > 65 years", "n_pct", "DMT01", "AGEGR1", ">65"),
        row("Male", "n_pct", "DMT01", "SEX", "M"),
        row("Female", "n_pct", "DMT01", "SEX", "F"),
        *(
            row(f"ECOG performance status {k}", "n_pct", "DMT01", "ECOGBL", k)
            for k in ("0", "1", "2")
        ),
        *(
            row(f"Durie-Salmon stage {k}", "n_pct", "DMT01", "DSSTAGE", k)
            for k in ("I", "II", "III")
        ),
        row("Prior anti-myeloma therapies: median (range)", "median_range", "DMT01", "NPRIOR"),
        *(
            row(f"{k} prior therapies", "n_pct", "DMT01", "NPRIORGR", k)
            for k in ("1", "2", "3", "4", ">=5")
        ),
        row("Used thalidomide previously", "n_pct", "DMT01", "PRITHAFL"),
        row("Used bortezomib previously", "n_pct", "DMT01", "PRIBORFL"),
        row("Used neither thalidomide nor bortezomib", "n_pct", "DMT01", "PRINEITHER"),
        row("Used both thalidomide and bortezomib", "n_pct", "DMT01", "PRIBOTH"),
        row("Prior surgery", "n_pct", "DMT01", "PRISURFL"),
        row("Prior radiation therapy", "n_pct", "DMT01", "PRIRADFL"),
    ]
    return table(
        "DMT01",
        "Table 1. Patient baseline characteristics",
        rows,
        BY_POPULATION,
        ("n (%) unless stated; percentages of the population N, rounded half up.",),
    )


def exposure_table(ard: pl.DataFrame) -> DisplayTable:
    c = {pop: Cells(ard, pop) for pop in POPULATIONS}
    rows = [
        (
            "Duration of Rd, months: median (range)",
            *(c[p].median_range("EXT01", "TRTDURM") for p in POPULATIONS),
        ),
        (
            "Treated beyond 108 weeks (24.8 months)",
            *(c[p].n_pct("EXT01", "GT108WK") for p in POPULATIONS),
        ),
        (
            "Average daily dose, mg: mean (range)",
            *(c[p].mean_range("EXT01", "ADDOSE") for p in POPULATIONS),
        ),
        (
            "Dose intensity, mg/day: median",
            *(c[p].number("EXT01", "DOSEINT", "median") for p in POPULATIONS),
        ),
        (
            "Relative dose intensity: median",
            *(c[p].number("EXT01", "RDI", "median") for p in POPULATIONS),
        ),
        ("On Rd at data cutoff", *(c[p].n_pct("DST01", "ONGOING") for p in POPULATIONS)),
        ("Discontinued Rd", *(c[p].n_pct("DST01", "DISCONTINUED") for p in POPULATIONS)),
        *(
            (
                f"  {reason.capitalize()}",
                *(c[p].n_pct("DST01", "DCTREAS", reason) for p in POPULATIONS),
            )
            for reason in ("PROGRESSIVE DISEASE", "DEATH", "LOST TO FOLLOW-UP")
        ),
        ("Deaths", *(c[p].n_pct("DTHT01", "DEATH") for p in POPULATIONS)),
    ]
    return table(
        "EXT01",
        "Lenalidomide exposure, dose intensity and disposition",
        rows,
        BY_POPULATION,
        (
            "Duration = last dose - first dose + 1 day (to the cutoff when on Rd); "
            "month = 30.4375 days.",
            "Dose intensity = cumulative dose / duration; relative dose intensity against "
            "the renal-adjusted full dose.",
        ),
    )


def ae_table(ard: pl.DataFrame, analysis: str, title: str, threshold: float = 0.0) -> DisplayTable:
    """TEAEs by preferred term, sorted by frequency in the safety population."""
    safety = Cells(ard, "safety")
    terms = (
        ard.filter(
            (pl.col("ANALYSIS") == analysis)
            & (pl.col("POPULATION") == "safety")
            & (pl.col("VARIABLE") == "AEDECOD")
            & (pl.col("STAT") == "pct")
            & (pl.col("VALUE") >= threshold)
        )
        .sort(["VALUE", "LEVEL"], descending=[True, False])["LEVEL"]
        .to_list()
    )
    label = {"AET04": "Patients with >= 1 grade 3-4 AE", "AET09": "Patients with >= 1 serious AE"}
    # Any-TEAE counts live under AET01; grade 3-4 and serious under their own analysis.
    any_analysis = "AET01" if analysis == "AET02" else analysis
    rows = [(label.get(analysis, "Patients with >= 1 TEAE"), safety.n_pct(any_analysis, "ANY"))]
    rows += [(term, safety.n_pct(analysis, "AEDECOD", term)) for term in terms]
    columns = ["Adverse event", "safety"]
    return table(
        analysis,
        title,
        rows,
        columns,
        (
            "Treatment-emergent AEs (onset from the first dose to 28 days after the last).",
            "Each patient is counted once per term, at the highest CTCAE v4.0 grade.",
        ),
    )


def _levels(ard: pl.DataFrame, analysis: str, variable: str) -> list[str]:
    """Levels of a variable, most frequent first in the safety population."""
    return (
        ard.filter(
            (pl.col("ANALYSIS") == analysis)
            & (pl.col("POPULATION") == "safety")
            & (pl.col("VARIABLE") == variable)
            & (pl.col("STAT") == "n")
        )
        .sort(["VALUE", "LEVEL"], descending=[True, False])["LEVEL"]
        .to_list()
    )


def deaths_table(ard: pl.DataFrame) -> DisplayTable:
    c = {pop: Cells(ard, pop) for pop in POPULATIONS}
    rows = [("Deaths", *(c[p].n_pct("DTHT01", "DEATH") for p in POPULATIONS))]
    rows += [
        (f"  {cause.capitalize()}", *(c[p].n_pct("DTHT01", "DTHCAUS", cause) for p in POPULATIONS))
        for cause in _levels(ard, "DTHT01", "DTHCAUS")
    ]
    return table(
        "DTHT01",
        "Deaths and causes of death",
        rows,
        BY_POPULATION,
        ("All deaths by the data cutoff, in treatment and in follow-up.",),
    )


def medications_table(ard: pl.DataFrame) -> DisplayTable:
    safety = Cells(ard, "safety")
    levels = _levels(ard, "CMT01", "CMCLAS")
    rows = [(level.capitalize(), safety.n_pct("CMT01", "CMCLAS", level)) for level in levels]
    columns = ["Medication class", "safety"]
    return table(
        "CMT01",
        "Concomitant medications by class",
        rows,
        columns,
        ("Patients counted once per class; prior anti-myeloma therapy excluded.",),
    )


def spm_table(ard: pl.DataFrame) -> DisplayTable:
    safety = Cells(ard, "safety")
    levels = _levels(ard, "AET10", "AEDECOD")
    rows = [("Patients with >= 1 second primary malignancy", safety.n_pct("AET10", "ANY"))]
    rows += [(level, safety.n_pct("AET10", "AEDECOD", level)) for level in levels]
    columns = ["Second primary malignancy", "safety"]
    return table(
        "AET10",
        "Second primary malignancies",
        rows,
        columns,
        ("Reported as serious AEs for the whole follow-up, whatever their relation to Rd.",),
    )


def spm_listing_table(ard: pl.DataFrame) -> DisplayTable:
    """AET10L: each second primary malignancy, one line per AE record."""
    cells = ard.filter((pl.col("ANALYSIS") == "AET10L") & (pl.col("POPULATION") == "safety"))
    columns = {
        "Subject": None,
        "Group": "TCFL",
        "Preferred term": "AEDECOD",
        "Reported term": "AETERM",
        "Phase at onset": "APHASE",
        "Onset date": "ASTDT",
        "Study day": "ASTDY",
        "CTCAE grade": "ATOXGRN",
        "Serious": "AESER",
        "Outcome": "AEOUT",
    }
    rows = []
    for key in cells["STAT"].unique(maintain_order=True).to_list():
        record = cells.filter(pl.col("STAT") == key)
        usubjid = record["SUBJECTS"][0][0]
        shown: dict[str | None, str] = {}
        for variable, level, value in record.select("VARIABLE", "LEVEL", "VALUE").iter_rows():
            shown[variable] = (
                level if level is not None else ("" if value is None else f"{value:g}")
            )
        group = "Treatment cohort" if shown.get("TCFL") == "Y" else "Safety follow-up only"
        row = [Count(usubjid, [usubjid]), group]
        row += [shown.get(v, "") for v in list(columns.values())[2:]]
        rows.append(row)
    if not rows:
        rows.append(["No second primary malignancy reported", *[""] * (len(columns) - 1)])
    return table(
        "AET10L",
        "Listing of second primary malignancies (safety population)",
        rows,
        list(columns),
        (
            "Every AE record flagged as a second primary malignancy, whatever its onset or "
            "relation to Rd. Study day: from the first Rd dose in the parent trial (day 1).",
        ),
    )


def soc_table(ard: pl.DataFrame) -> DisplayTable:
    """AET02 by system organ class and preferred term, both sorted by frequency."""
    safety = Cells(ard, "safety")
    socs = _levels(ard, "AET02", "AEBODSYS")
    pairs = _levels(ard, "AET02", "SOCPT")
    rows = [("Patients with >= 1 TEAE", safety.n_pct("AET01", "ANY"))]
    for soc in socs:
        rows.append((soc, safety.n_pct("AET02", "AEBODSYS", soc)))
        rows += [
            (f"  {pair.split('|', 1)[1]}", safety.n_pct("AET02", "SOCPT", pair))
            for pair in pairs
            if pair.split("|", 1)[0] == soc
        ]
    columns = ["System organ class / preferred term", "safety"]
    return table(
        "AET02S",
        "TEAEs by system organ class and preferred term",
        rows,
        columns,
        (
            "Each patient is counted once per SOC and once per term, at the highest CTCAE grade.",
            "SOCs and terms sorted by decreasing frequency.",
        ),
    )


def modification_table(ard: pl.DataFrame) -> DisplayTable:
    """AET05: lenalidomide modified or stopped because of a TEAE, and the terms behind it."""
    c = {pop: Cells(ard, pop) for pop in POPULATIONS}
    levels = (
        "INTERRUPTION ONLY",
        "REDUCTION ONLY",
        "INTERRUPTION AND REDUCTION",
        "DISCONTINUATION",
    )
    rows = [
        (level.capitalize(), *(c[p].n_pct("AET05", "ACTLEN", level) for p in POPULATIONS))
        for level in levels
    ]
    rows.append(
        (
            "Patients with >= 1 TEAE leading to interruption or reduction",
            *(c[p].n_pct("AET05", "ANY") for p in POPULATIONS),
        )
    )
    rows += [
        (f"  {term}", *(c[p].n_pct("AET05", "AEDECOD", term) for p in POPULATIONS))
        for term in _levels(ard, "AET05", "AEDECOD")
    ]
    return table(
        "AET05",
        "TEAEs leading to lenalidomide interruption, reduction or discontinuation",
        rows,
        BY_POPULATION,
        (
            "Patients counted once per category (action taken with lenalidomide, AEACN).",
            "Terms: TEAEs with the drug interrupted or the dose reduced; each patient counted "
            "once per term.",
        ),
    )


def toxicity_table(ard: pl.DataFrame) -> DisplayTable:
    """AET11: first grade 3-4 onset by time on treatment, and per 100 patient-years."""
    safety = Cells(ard, "safety")
    intervals = ("0-6", "6-12", "12-24", "24-")
    rows = []
    for term in ("ANY", "Neutropenia", "Anemia", "Thrombocytopenia", "Pneumonia"):
        cells = []
        for iv in intervals:
            level = f"{term}|{iv}"
            n = safety.value("AET11", "ONSET", level, "n_onset")
            at_risk = safety.value("AET11", "ONSET", level, "n_risk")
            pct = safety.value("AET11", "ONSET", level, "pct")
            shown = "NE" if pct is None else str(round_half_up(pct, 1))
            cells.append(f"{int(n or 0)}/{int(at_risk or 0)} ({shown})")
        rate = safety.value("AET11", "EAIR", term, "rate")
        lo, hi = (
            safety.value("AET11", "EAIR", term, "lower"),
            safety.value("AET11", "EAIR", term, "upper"),
        )
        eair = (
            "NE"
            if rate is None or lo is None or hi is None
            else (f"{round_half_up(rate, 1)} ({round_half_up(lo, 1)}-{round_half_up(hi, 1)})")
        )
        label = "Any grade 3-4 TEAE" if term == "ANY" else term
        rows.append((label, *cells, eair))
    columns = [
        "Grade 3-4 TEAE",
        "0-6 months",
        "6-12 months",
        "12-24 months",
        ">= 24 months",
        "Per 100 PY (95% CI)",
    ]
    return table(
        "AET11",
        "Cumulative toxicity: first grade 3-4 onset by time on Rd (safety population)",
        rows,
        columns,
        (
            "n/N (%): first onsets in the interval / patients on Rd and free of the event "
            "at its start.",
            "Rate: first onsets / time at risk x 100 patient-years (PY); exact Poisson 95% CI.",
        ),
    )


def cross_study_table(ard: pl.DataFrame) -> DisplayTable:
    """XST01: the discussion's comparison; MM-009/010/021 as published, MM-024 as computed."""
    from eap.simulate.targets import published

    cs = published()["cross_study"]
    safety = Cells(ard, "safety")

    def mine(analysis: str, variable: str, level: str | None = None) -> str:
        pct = safety.value(analysis, variable, level, "pct")
        return "NE" if pct is None else str(round_half_up(pct, 1))

    def pub(study: str, *keys: str) -> str:
        value: object = cs.get(study, {})
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return "-" if value is None else str(value)

    rows = [
        (
            "Grade 3-4 AEs, %",
            pub("MM-009", "grade3_4_any_pct"),
            "-",
            pub("MM-021", "grade3_4_any_pct"),
            pub("MM-024", "grade3_4_any_pct"),
            mine("AET04", "ANY"),
        ),
        *(
            (
                f"  {term}, grade 3-4 %",
                "-",
                "-",
                pub("MM-021", "grade3_4_pct", term),
                pub("MM-024", "grade3_4_pct", term),
                mine("AET04", "AEDECOD", term),
            )
            for term in ("Anemia", "Neutropenia", "Thrombocytopenia", "Pneumonia")
        ),
        (
            "AEs leading to discontinuation, %",
            pub("MM-009", "ae_discontinuation_pct"),
            "-",
            pub("MM-021", "ae_discontinuation_pct"),
            pub("MM-024", "ae_discontinuation_pct"),
            mine("AET05", "ACTLEN", "DISCONTINUATION"),
        ),
        (
            "Dose reduction and interruption, %",
            "-",
            pub("MM-010", "dose_reduction_or_interruption_pct"),
            pub("MM-021", "dose_reduction_or_interruption_pct"),
            pub("MM-024", "dose_reduction_and_interruption_pct"),
            mine("AET05", "ACTLEN", "INTERRUPTION AND REDUCTION"),
        ),
        (
            "Median follow-up, months",
            "-",
            "-",
            pub("MM-021", "median_follow_up_months"),
            pub("MM-024", "median_follow_up_months"),
            safety.number("FUT01", "FUP", "median"),
        ),
    ]
    columns = ["Measure", "MM-009", "MM-010", "MM-021", "MM-024 published", "MM-024 eap"]
    return table(
        "XST01",
        "Cross-study comparison (publication's discussion)",
        rows,
        columns,
        (
            "MM-009, MM-010 and MM-021: as published; MM-024: as published and as computed by eap.",
            "'-': not reported. MM-010 and MM-021 report reduction or interruption; MM-024 both.",
        ),
    )


def efficacy_table(ard: pl.DataFrame) -> DisplayTable:
    c = {pop: Cells(ard, pop) for pop in POPULATIONS}
    labels = {
        "DOR": "Duration of response, months",
        "TTP": "Time to progression, months",
        "PFS": "Progression-free survival, months",
        "OS": "Overall survival, months",
    }
    rows = [(label, *(c[p].km(param) for p in POPULATIONS)) for param, label in labels.items()]
    for param in ("PFS", "OS"):
        for months in ("12", "24", "36"):
            level = f"{months} months"
            cells = []
            for p in POPULATIONS:
                v = c[p].value("TTET01", param, level, "survival")
                cells.append("NE" if v is None else f"{round_half_up(100 * v, 1)}%")
            rows.append((f"{param} rate at {months} months", *cells))
    rows.append(
        (
            "Median follow-up from MM-021 enrollment, months",
            *(c[p].number("FUT01", "FUP", "median") for p in POPULATIONS),
        )
    )
    return table(
        "TTET01",
        "Table 4. Key efficacy outcomes: median (95% CI)",
        rows,
        BY_POPULATION,
        (
            "Kaplan-Meier estimates; 95% CI by Brookmeyer-Crowley with the log-log transform "
            "(SAS LIFETEST default); quantiles by R survfit's rule. NE: not estimable.",
            "Origin: first Rd dose in MM-021 (duration of response: first response).",
        ),
    )


def report_tables(ard: pl.DataFrame, ae_threshold: float = 3.0) -> list[DisplayTable]:
    """Every table of the report, in order; Table 2 lists terms in >= ``ae_threshold``%."""
    return [
        baseline_table(ard),
        exposure_table(ard),
        ae_table(ard, "AET02", "TEAEs of any grade by preferred term"),
        soc_table(ard),
        ae_table(
            ard,
            "AET04",
            f"Table 2. Grade 3-4 AEs in >= {ae_threshold:g}% of the safety population",
            ae_threshold,
        ),
        ae_table(ard, "AET09", "Table 3. Serious AEs in the safety population"),
        modification_table(ard),
        spm_table(ard),
        spm_listing_table(ard),
        deaths_table(ard),
        medications_table(ard),
        toxicity_table(ard),
        cross_study_table(ard),
        efficacy_table(ard),
    ]
