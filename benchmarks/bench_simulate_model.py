"""Protocol-model cohort (eap.simulate.model): 100,000 MM-021 patients against 10,000.

Goal: simulating 10x the patients in model mode (scale 503 = 100,097 MM-021
patients against scale 50 = 9,950, each through the protocol and written as SDTM
Parquet as `eap simulate --model protocol --format parquet` does, in parts of scale
100) takes at most 10x the time (10.06x for the 10.06x patients: linear). The goal
is judged on the process's CPU time, the best of three runs of each size taken in
turn (other work on a shared machine slows a run, never speeds it up); the wall time
is printed beside it; memory is the peak resident size.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from eap.simulate.model import PARENT_N
from eap.simulate.model_cohort import simulate_model
from eap.simulate.stream import write_simulation

SMALL, LARGE = 50, 503
REPEATS = 3


def _timed(scale: int) -> tuple[float, float, int, int]:
    """CPU seconds, wall seconds, peak resident bytes and EAP patients of one cohort."""
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), time.process_time()
        rows = write_simulation(Path(tmp), 2014, scale, "parquet", model="protocol")
        cpu, elapsed = time.process_time() - cpu, time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return cpu, elapsed, peak, rows["DM"]


def main() -> None:
    simulate_model(2014, 1)  # warm imports and caches
    runs: dict[int, list[tuple[float, float, int, int]]] = {SMALL: [], LARGE: []}
    for _ in range(REPEATS):
        for scale in (SMALL, LARGE):
            runs[scale].append(_timed(scale))
    small, large = min(runs[SMALL]), min(runs[LARGE])
    for scale, (cpu, secs, peak, eap) in ((SMALL, small), (LARGE, large)):
        print(
            f"scale {scale} ({PARENT_N * scale:,} MM-021 patients, {eap:,} in the EAP): "
            f"CPU {cpu:.1f} s, wall {secs:.1f} s, process peak {peak / 1e6:.0f} MB"
        )
    ratio = large[0] / small[0]
    patients = LARGE / SMALL
    verdict = "met" if ratio <= patients else "NOT met"
    print(
        f"CPU time ratio {ratio:.2f} for {patients:.2f}x the patients "
        f"(goal <= {patients:.2f}, linear: {verdict}); wall-time ratio "
        f"{large[1] / small[1]:.2f}"
    )


if __name__ == "__main__":
    main()
