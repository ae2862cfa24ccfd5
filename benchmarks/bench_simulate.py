"""Virtual cohort generation: cost of scale 100 (8,000 patients) against scale 1, same run.

Goal: the cost grows about linearly with the number of patients (per-patient
cost ratio <= 1.2), so that 8,000 patients take seconds. Memory is the process's
peak resident size after each run.
"""

from __future__ import annotations

import resource
import time

from eap.simulate import simulate


def _timed(scale: int) -> tuple[float, int]:
    start = time.perf_counter()
    simulate(2014, scale)
    elapsed = time.perf_counter() - start
    # Peak resident size of the process so far, in bytes (Linux reports KiB).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return elapsed, peak


def main() -> None:
    simulate(2014, 1)  # warm imports and caches
    base_time, base_peak = _timed(1)
    big_time, big_peak = _timed(100)
    per_patient = (big_time / 8000) / (base_time / 80)
    print(f"scale 1 (80 patients): {base_time:.2f} s, process peak {base_peak / 1e6:.0f} MB")
    print(f"scale 100 (8,000 patients): {big_time:.2f} s, process peak {big_peak / 1e6:.0f} MB")
    verdict = "met" if per_patient <= 1.2 else "NOT met"
    print(
        f"per-patient cost ratio (scale 100 / scale 1): {per_patient:.2f} (goal <= 1.2: {verdict})"
    )


if __name__ == "__main__":
    main()
