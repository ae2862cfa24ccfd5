"""Deriving and reporting at scale: ``eap derive`` and ``eap report --sdtm`` (HTML) on
8,000 patients (scale 100) against 80,000 (scale 1000), Parquet in, each in a fresh
process so that its peak memory is its own.

The SDTM are simulated first (exact model, seed 5: exactly 80 patients a scale),
outside the timing. Goals (issue 17), for each command: 10 times the patients cost at
most 11 times the time, and 80,000 patients peak at most at 1.5 GB resident memory
(1 GB = 10^9 bytes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL, LARGE = 100, 1000  # scales: 80 patients each
TIME_RATIO_GOAL = 11.0
PEAK_GOAL = 1.5e9  # bytes, for the large run


def _eap(*args: str) -> list[str]:
    return [sys.executable, "-m", "eap.cli", *args]


def _env() -> dict[str, str]:
    """This process's environment, with the eap it imports first on the path, so that
    the child processes run the same code."""
    import eap

    source = str(Path(eap.__file__).resolve().parents[1])
    given = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, *([given] if given else [])])}


def _simulate(folder: Path, scale: int) -> None:
    command = _eap(
        "simulate",
        "--out",
        str(folder),
        "--seed",
        "5",
        "--scale",
        str(scale),
        "--format",
        "parquet",
    )
    subprocess.run(command, check=True, capture_output=True, env=_env())


def measure(args: list[str], errors: Path) -> tuple[float, int]:
    """Wall seconds and peak resident bytes of one eap command in its own process."""
    with open(errors, "wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            _eap(*args), stdout=subprocess.DEVNULL, stderr=stderr, env=_env()
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"eap {' '.join(args)} failed: {errors.read_text()}")
    return elapsed, usage.ru_maxrss * 1024  # Linux reports KiB


def _commands(sdtm: Path, out: Path) -> dict[str, list[str]]:
    return {
        "derive": ["derive", str(sdtm), "--out", str(out / "adam"), "--format", "parquet"],
        "report": [
            "report",
            "--sdtm",
            str(sdtm),
            "--out",
            str(out / "report"),
            "--formats",
            "html",
        ],
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs: dict[str, dict[int, tuple[float, int]]] = {"derive": {}, "report": {}}
        for scale in (SMALL, LARGE):
            sdtm = folder / f"sdtm{scale}"
            _simulate(sdtm, scale)
            for verb, args in _commands(sdtm, folder / f"out{scale}").items():
                runs[verb][scale] = measure(args, folder / f"{verb}{scale}.stderr")
    for verb, by_scale in runs.items():
        (small_time, small_peak), (large_time, large_peak) = by_scale[SMALL], by_scale[LARGE]
        ratio = large_time / small_time
        print(f"eap {verb}, 8,000 patients: {small_time:.1f} s, peak {small_peak / 1e9:.2f} GB")
        print(f"eap {verb}, 80,000 patients: {large_time:.1f} s, peak {large_peak / 1e9:.2f} GB")
        verdict = "met" if ratio <= TIME_RATIO_GOAL else "NOT met"
        print(f"{verb} time ratio (80,000 / 8,000 patients): {ratio:.2f}x (goal <= 11x: {verdict})")
        verdict = "met" if large_peak <= PEAK_GOAL else "NOT met"
        print(
            f"{verb} peak at 80,000 patients: {large_peak / 1e9:.2f} GB (goal <= 1.5 GB: {verdict})"
        )


if __name__ == "__main__":
    main()
