"""Study database load: 8,000 patients against 800, in one run, batched as ``eap db load``.

``load_sdtm`` registers every subject and keeps every SDTM row with its audit trail,
committing 500 patients at a time, on a fresh SQLite file; then ``eap export`` reads
the smaller one back. Goal: the cost grows linearly, so ten times the patients costs
at most 12 times as much (a quadratic step would make it about 100 times). Also
printed: patients per second and the time that pace gives for a million patients.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from eap.simulate import simulate
from eap.store.bootstrap import init_study
from eap.store.export import sdtm_from_url
from eap.store.transfer import DEFAULT_BATCH_SIZE, load_sdtm

SMALL, BIG = 10, 100  # virtual-cohort scales: 80 patients each


def _seconds(scale: int, export: bool) -> tuple[float, float, int, int]:
    """Load seconds, export seconds (0 unless asked), patients and records loaded."""
    sdtm = simulate(2014, scale)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'study.db'}"
        init_study(url)
        start = time.perf_counter()
        summary = load_sdtm(url, sdtm, transfer="benchmark", batch_size=DEFAULT_BATCH_SIZE)
        loaded = time.perf_counter() - start
        exported = 0.0
        if export:
            start = time.perf_counter()
            sdtm_from_url(url)
            exported = time.perf_counter() - start
    return loaded, exported, summary.patients, sum(summary.records.values())


def main() -> None:
    _seconds(1, export=False)  # warm imports and caches
    small, small_export, small_p, small_n = _seconds(SMALL, export=True)
    big, _, big_p, big_n = _seconds(BIG, export=False)
    print(
        f"{small_p:,} patients, {small_n:,} records: load {small:.1f} s, "
        f"export {small_export:.1f} s"
    )
    print(f"{big_p:,} patients, {big_n:,} records: load {big:.1f} s")
    ratio = big / small
    verdict = "met" if ratio <= 12.0 else "NOT met"
    print(
        f"load cost ratio ({big_p:,} / {small_p:,} patients): {ratio:.1f}x "
        f"(goal <= 12x, linear: {verdict})"
    )
    pace = big_p / big
    print(
        f"pace: {pace:.0f} patients/s, {big_n / big:,.0f} records/s; "
        f"a million patients at this pace: {1e6 / pace / 3600:.1f} h"
    )


if __name__ == "__main__":
    main()
