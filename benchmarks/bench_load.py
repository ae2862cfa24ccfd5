"""Study database load: a scale-10 virtual cohort (800 patients) against the 80-patient one.

``eap db load`` registers every subject and keeps every SDTM row with its audit trail,
in one transaction on a fresh SQLite file; then ``eap export`` reads it back. Goal:
the cost grows linearly, so ten times the patients costs at most 12 times as much
(a quadratic step would make it about 100 times).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from eap.simulate import simulate
from eap.store.bootstrap import init_study
from eap.store.export import sdtm_from_url
from eap.store.transfer import load_sdtm


def _seconds(scale: int) -> tuple[float, float, int]:
    """Load seconds, export seconds and the number of records loaded."""
    sdtm = simulate(2014, scale)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'study.db'}"
        init_study(url)
        start = time.perf_counter()
        summary = load_sdtm(url, sdtm, transfer="benchmark")
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        sdtm_from_url(url)
        exported = time.perf_counter() - start
    return loaded, exported, sum(summary.records.values())


def main() -> None:
    _seconds(1)  # warm imports and caches
    small_load, small_export, small_n = _seconds(1)
    big_load, big_export, big_n = _seconds(10)
    print(f"80 patients, {small_n:,} records: load {small_load:.2f} s, export {small_export:.2f} s")
    print(f"800 patients, {big_n:,} records: load {big_load:.2f} s, export {big_export:.2f} s")
    ratio = big_load / small_load
    verdict = "met" if ratio <= 12.0 else "NOT met"
    print(f"load cost ratio (800 / 80 patients): {ratio:.1f}x (goal <= 12x, linear: {verdict})")
    print(f"export cost ratio: {big_export / small_export:.1f}x")


if __name__ == "__main__":
    main()
