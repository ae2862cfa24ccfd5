"""Page furniture of the paged report (RTF and PDF) and the run date of every report file.

Every page carries a running header (study, output id, population, data cutoff, and
"Page x of y") and a footer (the program, i.e. the ``eap report`` command line as
run, the eap version and the run date). The paper is US Letter or ISO A4, portrait,
or landscape for a wide table (a listing), with the same margins in RTF and PDF.

The run date is the time of the run in UTC, or, when the environment variable
``SOURCE_DATE_EPOCH`` is set (the reproducible-builds.org convention: integer seconds
since 1970-01-01 UTC), that time: two runs on the same input then give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

from eap import __version__
from eap.errors import EapError
from eap.plans.plan import Plan

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
POINTS_PER_INCH = 72.0
# Paper width and height in points, portrait: US Letter 8.5 x 11 in (ANSI A), ISO 216 A4
# 210 x 297 mm (1 mm = 72 / 25.4 points).
PAPERS: dict[str, tuple[float, float]] = {
    "letter": (8.5 * POINTS_PER_INCH, 11.0 * POINTS_PER_INCH),
    "a4": (210 * POINTS_PER_INCH / 25.4, 297 * POINTS_PER_INCH / 25.4),
}
# Margins in inches, the same in RTF and PDF: the header sits in the top margin and
# the footer in the bottom one, so neither ever overlaps the body.
MARGIN_SIDE = 1.0
MARGIN_TOP = 1.25
MARGIN_BOTTOM = 1.0
HEADER_FROM_EDGE = 0.5
FOOTER_FROM_EDGE = 0.5
WIDE_COLUMNS = 6  # a table with more columns (a listing) goes on a landscape page


def run_date(environ: Mapping[str, str] | None = None) -> dt.datetime:
    """The run's date and time (UTC): ``SOURCE_DATE_EPOCH`` when set, else now."""
    env = os.environ if environ is None else environ
    raw = env.get(SOURCE_DATE_EPOCH)
    if raw is None or raw.strip() == "":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        raise EapError(
            "not a time in seconds since the epoch",
            variable=SOURCE_DATE_EPOCH,
            expected="a whole number of seconds since 1970-01-01T00:00:00Z, e.g. 1700000000",
            found=raw,
        )
    try:
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise EapError(
            "a time out of range",
            variable=SOURCE_DATE_EPOCH,
            expected="seconds since 1970-01-01T00:00:00Z up to year 9999",
            found=raw,
        ) from exc


def shown_date(when: dt.datetime) -> str:
    """A run date as printed: ISO 8601 in UTC to the second, ``2014-11-05T12:00:00Z``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def paper_size(paper: str) -> tuple[float, float]:
    """Width and height in points of ``paper`` (letter, a4), portrait."""
    if paper not in PAPERS:
        raise EapError(
            "unknown paper size", variable="--paper", expected=" or ".join(PAPERS), found=paper
        )
    return PAPERS[paper]


def is_wide(columns: int) -> bool:
    """A table of more than six columns (a listing) is set on a landscape page."""
    return columns > WIDE_COLUMNS


def page_size(paper: str, landscape: bool) -> tuple[float, float]:
    width, height = paper_size(paper)
    return (height, width) if landscape else (width, height)


def text_width(paper: str, landscape: bool) -> float:
    """Width in points between the side margins."""
    return page_size(paper, landscape)[0] - 2 * MARGIN_SIDE * POINTS_PER_INCH


def text_height(paper: str, landscape: bool) -> float:
    """Height in points between the top and bottom margins."""
    height = page_size(paper, landscape)[1]
    return height - (MARGIN_TOP + MARGIN_BOTTOM) * POINTS_PER_INCH


@dataclass(frozen=True)
class Furniture:
    """What every page says besides its output: study, cutoff, program, version, date."""

    study: str
    cutoff: str
    program: str
    run_at: dt.datetime
    paper: str = "letter"
    version: str = __version__
    populations: Mapping[str, str] | None = None  # output id -> its populations' labels

    def population(self, output_id: str) -> str:
        return (self.populations or {}).get(output_id, "")

    def header(self, output_id: str) -> tuple[str, str]:
        """The two header lines before "Page x of y": study and output; population, cutoff."""
        first = f"Study {self.study}    Output {output_id}"
        population = self.population(output_id)
        second = f"Population: {population}    " if population else ""
        return first, f"{second}Data cutoff: {self.cutoff}"

    def footer(self) -> tuple[str, str]:
        """The footer lines: the program as run; eap's version and the run date."""
        return f"Program: {self.program}", f"eap {self.version}    Run {shown_date(self.run_at)}"


def furniture_for(
    plan: Plan,
    *,
    cutoff: str,
    program: str,
    run_at: dt.datetime | None = None,
    paper: str = "letter",
) -> Furniture:
    """The furniture of ``plan``'s report: each output's populations by their labels."""
    paper_size(paper)
    labels = {
        output.id: "; ".join(
            plan.study.populations[p].label if p in plan.study.populations else p
            for p in output.populations
        )
        for output in plan.outputs
    }
    return Furniture(
        study=plan.study.id,
        cutoff=cutoff,
        program=program,
        run_at=run_date() if run_at is None else run_at,
        paper=paper,
        populations=labels,
    )
