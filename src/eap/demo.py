"""``eap demo``: the end-to-end path that exists so far, on built-in data.

Each stage that eap has runs on real data and writes its output under ``out``;
the stages that are not built yet are named, so the demo never pretends.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console

from eap.datasets.io import WRITABLE, read_dataset, write_dataset
from eap.datasets.validate import validate_folder
from eap.report_console import print_findings

NOT_YET = (
    "virtual MM-024 cohort (eap simulate)",
    "ADaM derivations for MM-024 (eap derive)",
    "the MM-024 report and its check against the publication (eap report, eap reproduce)",
    "study operations web application (eap serve)",
)


def pilot_folder() -> Path:
    """The CDISC pilot ADaM datasets shipped with eap."""
    return Path(str(resources.files("eap.data").joinpath("cdisc_pilot")))


def run_demo(out: Path, console: Console) -> None:
    """Run every stage of the flow that eap has, and name the ones it does not have yet."""
    out.mkdir(parents=True, exist_ok=True)
    source = pilot_folder()
    console.rule("eap demo")
    console.print(
        "Built-in data: the CDISC pilot study's ADSL and ADTTE (a real submission package); "
        "the MM-024 virtual cohort is not built yet."
    )

    console.rule("1. validate datasets against eap's CDISC specifications")
    report = validate_folder(source)
    print_findings(console, report)

    console.rule("2. convert: SAS XPT -> Parquet, Dataset-JSON 1.1, CSV, XPT")
    for path in sorted(source.glob("*.xpt")):
        ds = read_dataset(path)
        for fmt in WRITABLE:
            target = write_dataset(ds, out / "datasets" / f"{path.stem}.{fmt}", format=fmt)
            console.print(f"  {ds.name}: {ds.n_rows} rows -> {target}", highlight=False)
        again = read_dataset(out / "datasets" / f"{path.stem}.json")
        same = again.frame.equals(ds.frame) and again.columns == ds.columns
        console.print(f"  {ds.name}: Dataset-JSON round trip keeps values and metadata: {same}")

    console.rule("not there yet")
    for item in NOT_YET:
        console.print(f"  - {item}")
    console.print(f"Outputs are in {out}/")
