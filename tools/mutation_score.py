"""Print the mutation score from mutmut's ``export-cicd-stats`` file (``make mutation``).

The score is killed / (total - skipped): a timeout counts as killed (the mutant made
the tests hang), a survivor or a mutant no test reaches (no_tests) as not killed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> int:
    s = json.loads(Path(path).read_text())
    killed = s["killed"] + s["timeout"]
    tested = s["total"] - s["skipped"]
    score = 100.0 * killed / tested if tested else 0.0
    print(
        f"mutants: {s['total']}  killed: {s['killed']}  timeout: {s['timeout']}  "
        f"survived: {s['survived']}  no tests: {s['no_tests']}  suspicious: {s['suspicious']}  "
        f"skipped: {s['skipped']}"
    )
    print(f"mutation score: {score:.1f}% ({killed}/{tested})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "mutants/mutmut-cicd-stats.json"))
