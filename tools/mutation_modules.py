"""Run mutmut module by module (``make mutation-modules``), each to completion, and print
each module's score as it finishes.

On 2 shared cores a run over every module of src/eap/stats and src/eap/derive takes
hours; this runs the modules in the order given (default: the derivations, then the
statistics), testing only the mutants of each that have no result yet, so it can be
stopped and resumed, and every module it finishes has a complete, measured score.

    python tools/mutation_modules.py [src/eap/derive/adtte.py ...]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ORDER = [
    "src/eap/derive/adtte.py",
    "src/eap/derive/adae.py",
    "src/eap/derive/adsl.py",
    "src/eap/derive/adex.py",
    "src/eap/derive/adrs.py",
    "src/eap/derive/adcm.py",
    "src/eap/derive/inputs.py",
    "src/eap/derive/common.py",
    "src/eap/stats/km.py",
    "src/eap/stats/logrank.py",
    "src/eap/stats/cox.py",
    "src/eap/stats/rates.py",
    "src/eap/stats/proportions.py",
    "src/eap/stats/followup.py",
    "src/eap/stats/_validate.py",
    "src/eap/stats/frame.py",
    "src/eap/derive/__init__.py",
    "src/eap/derive/checks.py",
    "src/eap/derive/docs.py",
]
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
STATUS = {0: "survived", 1: "killed", 33: "no tests", 34: "skipped", 37: "type check"}


def results(module: str) -> dict[str, int | None]:
    meta = Path("mutants") / f"{module}.meta"
    if not meta.exists():
        return {}
    data: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return data


def status(code: int | None) -> str:
    if code is None:
        return "pending"
    # mutmut: SIGXCPU (-24, 24, 152) and 36 are timeouts; other codes are crashes (killed).
    return STATUS.get(code, "timeout" if code in (-24, 24, 36, 152) else "killed")


def summary(module: str) -> str:
    counts: dict[str, int] = {}
    for code in results(module).values():
        counts[status(code)] = counts.get(status(code), 0) + 1
    total = sum(counts.values())
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    tested = total - counts.get("pending", 0)
    score = f"{100.0 * killed / tested:.1f}%" if tested else "-"
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return f"{module}: {score} ({killed}/{tested} killed; {detail})"


def sync_data_files() -> None:
    """Copy src's non-Python files (study and plan TOML, specs) into mutants/src.

    mutmut re-copies a Python file that changed, but keeps its first copy of every
    other file, so a changed study file would make the tests fail for every mutant.
    """
    for path in Path("src").rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            target = Path("mutants") / path
            if not target.exists() or target.read_bytes() != path.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)


def main(modules: list[str]) -> int:
    if Path("mutants").exists():
        sync_data_files()
    # Generates the mutants of code changed since the last run and maps new tests to
    # functions; the name matches no mutant, so it tests none.
    subprocess.run(
        ["nice", "-n", "19", MUTMUT, "run", "--max-children", "2", "eap.none*"], check=False
    )
    sync_data_files()
    for module in modules:
        pending = [k for k, v in results(module).items() if v is None]
        start = time.monotonic()
        if pending:
            subprocess.run(
                ["nice", "-n", "19", MUTMUT, "run", "--max-children", "2", *pending],
                check=False,
                stdout=subprocess.DEVNULL,
            )
        minutes = (time.monotonic() - start) / 60
        print(f"{summary(module)}; {len(pending)} tested in {minutes:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--sync"]:
        if Path("mutants").exists():
            sync_data_files()
        sys.exit(0)
    sys.exit(main(sys.argv[1:] or ORDER))
