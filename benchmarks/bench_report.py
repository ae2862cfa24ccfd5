"""Report cost: a scale-100 virtual cohort (8,000 patients) against the 80-patient one.

Measured in the same run: derivation (SDTM -> ADaM), analysis results data and
the report (HTML, PDF, RTF, figures), without generating the SDTM. Goal: the
8,000-patient report costs at most 3x the 80-patient report.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from eap.ard import run_plan
from eap.derive import derive_all
from eap.plans.plan import load_plan
from eap.report import write_report
from eap.simulate import simulate

CUTOFF = dt.date(2014, 11, 5)


def _report_seconds(scale: int) -> tuple[float, float, int]:
    """Analysis seconds, total seconds and the HTML report's size in bytes."""
    sdtm = simulate(2014, scale)
    start = time.perf_counter()
    adam = {"CM": sdtm["CM"], **derive_all(sdtm, CUTOFF).datasets}
    plan = load_plan("mm024")
    ard = run_plan(plan, adam).ard
    analysis = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        paths = write_report(ard, Path(folder), plan)
        size = paths["html"].stat().st_size
    return analysis, time.perf_counter() - start, size


def main() -> None:
    _report_seconds(1)  # warm imports, fonts and caches
    small_analysis, small, small_html = _report_seconds(1)
    big_analysis, big, big_html = _report_seconds(100)
    ratio = big / small
    print(
        f"80 patients: {small:.2f} s (derivation and ARD {small_analysis:.2f} s), "
        f"HTML {small_html / 1e6:.1f} MB"
    )
    print(
        f"8,000 patients: {big:.2f} s (derivation and ARD {big_analysis:.2f} s), "
        f"HTML {big_html / 1e6:.1f} MB (the patients behind every count included)"
    )
    verdict = "met" if ratio <= 3.0 else "NOT met"
    print(f"report cost ratio (8,000 / 80 patients): {ratio:.2f}x (goal <= 3x: {verdict})")


if __name__ == "__main__":
    main()
