"""Virtual cohort generation: cost of scale 100 (8,000 patients) against scale 1, same run.

Goal: the cost grows at most linearly with the number of patients (ratio of
per-patient costs <= 1), so that 8,000 patients take seconds.
"""

from __future__ import annotations

import time
import tracemalloc

from eap.simulate import simulate


def _timed(scale: int) -> tuple[float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    simulate(2014, scale)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


def main() -> None:
    simulate(2014, 1)  # warm imports and caches
    base_time, base_peak = _timed(1)
    big_time, big_peak = _timed(100)
    per_patient = (big_time / 8000) / (base_time / 80)
    print(f"scale 1 (80 patients): {base_time:.2f} s, peak {base_peak / 1e6:.0f} MB")
    print(f"scale 100 (8,000 patients): {big_time:.2f} s, peak {big_peak / 1e6:.0f} MB")
    verdict = "met" if per_patient <= 1.0 else "NOT met"
    print(f"per-patient cost ratio (scale 100 / scale 1): {per_patient:.2f} (goal <= 1: {verdict})")


if __name__ == "__main__":
    main()
