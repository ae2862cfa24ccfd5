"""Mutation score by random sampling when a full run does not fit in the time at hand.

mutmut tests every mutant; over src/eap/stats and src/eap/derive that is about ten
thousand mutants and, on 2 shared cores, many hours. This runs the mutants that have no
result yet in a random order (a fixed seed, so the order can be repeated), in batches,
and after each batch prints the score estimated from two strata:

* the mutants that already had a result when sampling began (every one of them known);
* the rest, of which a simple random sample has been tested so far: the kill rate of the
  sample, with a Wilson 95% interval, stands for all of them.

The plan (the pending mutants in their random order) is kept in
``mutants/sample-plan.json``, so a run can be stopped and resumed; every mutant tested
stays in mutmut's own results, so `make mutation` later only tests the rest.

    python tools/mutation_sample.py [--batch 100] [--minutes 120]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mutation_modules import MUTMUT, ORDER, results, status, sync_data_files

PLAN = Path("mutants/sample-plan.json")
META = Path("mutants/src")
SEED = 2026


def wilson(killed: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (as R's prop.test without correction)."""
    if n == 0:
        return 0.0, 1.0
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def all_results() -> dict[str, int | None]:
    """Every mutant of every mutated module in mutants/ (not only those in ORDER, so a
    module added to src is never left out of the sample)."""
    out: dict[str, int | None] = {}
    found = sorted(str(p.relative_to("mutants"))[: -len(".meta")] for p in META.rglob("*.meta"))
    for module in dict.fromkeys([*ORDER, *found]):
        out.update(results(module))
    return out


def make_plan() -> dict[str, list[str]]:
    codes = all_results()
    pending = sorted(k for k, v in codes.items() if v is None)
    random.Random(SEED).shuffle(pending)
    known = sorted(k for k, v in codes.items() if v is not None)
    plan = {"known": known, "sample": pending}
    PLAN.write_text(json.dumps(plan))
    return plan


def estimate(plan: dict[str, list[str]]) -> str:
    codes = all_results()
    killed = lambda k: status(codes.get(k)) in ("killed", "timeout")  # noqa: E731
    known_killed = sum(killed(k) for k in plan["known"])
    tested = [k for k in plan["sample"] if codes.get(k) is not None]
    sample_killed = sum(killed(k) for k in tested)
    n_known, n_pending = len(plan["known"]), len(plan["sample"])
    total = n_known + n_pending
    lo, hi = wilson(sample_killed, len(tested))
    rate = sample_killed / len(tested) if tested else float("nan")
    point = (known_killed + rate * n_pending) / total
    low = (known_killed + lo * n_pending) / total
    high = (known_killed + hi * n_pending) / total
    return (
        f"known {known_killed}/{n_known} killed; sample {sample_killed}/{len(tested)} of "
        f"{n_pending} killed ({100 * rate:.1f}%); score {100 * point:.1f}% "
        f"(95% CI {100 * low:.1f}-{100 * high:.1f}%) over {total} mutants"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=float("inf"))
    args = parser.parse_args()
    sync_data_files()
    plan = json.loads(PLAN.read_text()) if PLAN.exists() else make_plan()
    start = time.monotonic()
    while (time.monotonic() - start) / 60 < args.minutes:
        codes = all_results()
        todo = [k for k in plan["sample"] if codes.get(k) is None][: args.batch]
        if not todo:
            break
        subprocess.run(
            ["nice", "-n", "19", MUTMUT, "run", "--max-children", "2", *todo],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        print(f"{(time.monotonic() - start) / 60:.1f} min: {estimate(plan)}", flush=True)
    print(estimate(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
