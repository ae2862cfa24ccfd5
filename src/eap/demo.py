"""``eap demo``: the whole flow on the built-in MM-024 study.

Protocol -> virtual cohort (SDTM, seed 2014) -> validation -> a fresh SQLite study
database holding the cohort -> SDTM exported from that database -> ADaM -> the
report and its ARD -> every published figure reproduced. Outputs go under ``out``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from eap.ard import build_ard
from eap.datasets.io import read_dataset, write_dataset
from eap.datasets.validate import validate_datasets
from eap.derive import derive_all
from eap.formatting import percent
from eap.protocol import load_protocol
from eap.protocol.views import dose_dict, dose_view
from eap.report import write_report
from eap.report.reproduce import compare
from eap.report_console import print_findings
from eap.simulate import CUTOFF, simulate
from eap.simulate.targets import published
from eap.stats import kaplan_meier
from eap.store.bootstrap import init_study
from eap.store.export import sdtm_from_url
from eap.store.transfer import load_sdtm

ENDPOINTS = (
    ("DOR", "duration_of_response", "DoR"),
    ("TTP", "time_to_progression", "TTP"),
    ("PFS", "progression_free_survival", "PFS"),
    ("OS", "overall_survival", "OS"),
)


def pilot_folder() -> Path:
    """The CDISC pilot ADaM datasets shipped with eap."""
    return Path(str(resources.files("eap.data").joinpath("cdisc_pilot")))


def _fmt(value: float | None) -> str:
    return "NE" if value is None else f"{value:.1f}"


def table4(adtte: pl.DataFrame, dm: pl.DataFrame) -> Table:
    """Table 4 as eap computes it, beside the published medians (95% CI)."""
    pub = published()["table4_efficacy_median_months_95ci"]
    table = Table(title="Table 4: median months (95% CI), log-log CI, R quantile rule")
    table.add_column("Endpoint")
    for pop in ("Safety population", "Treatment cohort"):
        table.add_column(f"{pop}: published")
        table.add_column(f"{pop}: eap")
    groups = {"safety": dm, "treatment_cohort": dm.filter(pl.col("ARMCD") == "TP")}
    for paramcd, key, label in ENDPOINTS:
        cells = [label]
        for pop, subjects in groups.items():
            f = adtte.filter(
                (pl.col("PARAMCD") == paramcd)
                & pl.col("USUBJID").is_in(subjects["USUBJID"].implode())
            )
            m = kaplan_meier(f["AVAL"].to_numpy(), 1 - f["CNSR"].to_numpy()).curves[0].median
            p = pub[pop][key]
            cells.append("NE" if p == "NE" else f"{p[0]} ({p[1]}-{p[2]})")
            ci = f"({_fmt(m.lower)}-{_fmt(m.upper)})" if m.estimate is not None else ""
            cells.append(f"{_fmt(m.estimate)} {ci}".strip())
        table.add_row(*cells)
    return table


def exposure_table(adex: pl.DataFrame) -> Table:
    """The publication's exposure figures beside eap's, safety population."""
    wide = adex.filter(pl.col("PARAMCD") != "GT108WK").pivot(
        on="PARAMCD", index="USUBJID", values="AVAL"
    )
    table = Table(title="Lenalidomide exposure, safety population")
    for col in ("Figure", "Published", "eap"):
        table.add_column(col)
    dur = wide["TRTDURM"].to_numpy()
    add = wide["ADDOSE"].to_numpy()
    di = float(np.median(wide["DOSEINT"].to_numpy()))
    rdi = float(np.median(wide["RDI"].to_numpy()))
    rows = (
        (
            "Rd duration, months: median (range)",
            "16.5 (1.8-48.1)",
            f"{np.median(dur):.1f} ({dur.min():.1f}-{dur.max():.1f})",
        ),
        (
            "Average daily dose, mg: mean (range)",
            "21.7 (6.3-25.0)",
            f"{add.mean():.1f} ({add.min():.1f}-{add.max():.1f})",
        ),
        ("Dose intensity, mg/day: median", "18.0", f"{di:.1f}"),
        ("Relative dose intensity: median", "1.0", f"{rdi:.1f}"),
    )
    for row in rows:
        table.add_row(*row)
    return table


def table2(adae: pl.DataFrame) -> Table:
    """Table 2 (grade 3-4 TEAEs in >= 3%) beside the publication's, patients at worst grade."""
    pub = published()["safety_population_ae"]["table2_grade3_4_ge3pct"]
    g34 = adae.filter((pl.col("TRTEMFL") == "Y") & (pl.col("TOXG34FL") == "Y"))
    counts = dict(g34.group_by("AEDECOD").agg(pl.col("USUBJID").n_unique()).rows())
    table = Table(title="Table 2: grade 3-4 TEAEs in >= 3% of the safety population (N = 80)")
    for col in ("Adverse event", "Published n (%)", "eap n (%)"):
        table.add_column(col)
    any_n = g34["USUBJID"].n_unique()
    table.add_row(
        "Patients with >= 1 grade 3-4 AE",
        f"{pub['any_grade3_4']['n']} ({pub['any_grade3_4']['pct']})",
        f"{any_n} ({percent(any_n, 80)})",
    )
    for row in pub["rows"]:
        n = counts.get(row["term"], 0)
        table.add_row(row["term"], f"{row['n']} ({row['pct']})", f"{n} ({percent(n, 80)})")
    return table


def run_demo(out: Path, console: Console) -> None:
    """Run every stage of the flow that eap has, and name the ones it does not have yet."""
    out.mkdir(parents=True, exist_ok=True)
    console.rule("eap demo: MM-024")

    console.rule("1. protocol: the MM-024 rules as data")
    protocol = load_protocol()
    example = dose_dict(protocol, age=70, weight_kg=60, sex="F", creatinine=1.4)
    console.print(dose_view(example))

    console.rule("2. virtual cohort: SDTM of the MM-021 -> MM-024 rollover (seed 2014)")
    sdtm = simulate(2014, 1)
    for name, ds in sdtm.items():
        write_dataset(ds, out / "sdtm" / f"{name.lower()}.xpt")
    console.print(
        f"{sdtm['DM'].n_rows} patients; "
        + ", ".join(f"{n} {ds.n_rows}" for n, ds in sdtm.items())
        + f" rows -> {out / 'sdtm'}/"
    )

    console.rule("3. validate the SDTM datasets against eap's CDISC specifications")
    again = {name: read_dataset(out / "sdtm" / f"{name.lower()}.xpt") for name in sdtm}
    print_findings(console, validate_datasets(again))

    console.rule("4. study database: the cohort loaded as a data transfer (eap db load)")
    db_file = out / "study.db"
    db_file.unlink(missing_ok=True)  # the demo's own database, rebuilt on every run
    url = f"sqlite:///{db_file}"
    init_study(url)
    loaded = load_sdtm(url, again, transfer="virtual MM-024 cohort, seed 2014")
    console.print(
        f"{loaded.patients} patients registered (rollover decision and starting dose by the "
        f"protocol), {sum(loaded.records.values())} SDTM records kept, audited -> {db_file}"
    )
    stored = sdtm_from_url(url)
    same = all(stored[name].frame.equals(ds.frame) for name, ds in again.items())
    console.print(
        "SDTM exported from the database "
        + ("equals the cohort, value for value" if same else "[red]differs from the cohort[/]")
    )

    console.rule("5. ADaM from the database: ADSL, ADAE, ADEX, ADTTE, ADRS at cutoff 2014-11-05")
    derived = derive_all(stored, CUTOFF)
    for name, ds in derived.datasets.items():
        write_dataset(ds, out / "adam" / f"{name.lower()}.xpt")
        console.print(f"{name}: {ds.n_rows} rows -> {out / 'adam' / (name.lower() + '.xpt')}")
    for name, why in derived.skipped.items():
        console.print(f"{name} not derived: {why}")
    adtte = derived.datasets["ADTTE"]
    console.print(exposure_table(derived.datasets["ADEX"].frame))
    console.print(table2(derived.datasets["ADAE"].frame))
    console.print(table4(adtte.frame, stored["DM"].frame))
    fup = adtte.frame.filter(pl.col("PARAMCD") == "FUP")
    tc = stored["DM"].frame.filter(pl.col("ARMCD") == "TP")["USUBJID"]
    fup_all = float(fup["AVAL"].median())  # type: ignore[arg-type]
    fup_tc = float(fup.filter(pl.col("USUBJID").is_in(tc.implode()))["AVAL"].median())  # type: ignore[arg-type]
    console.print(
        "Median follow-up from MM-021 enrollment: safety population "
        f"{fup_all:.1f} months (published 38.4), treatment cohort {fup_tc:.1f} months "
        "(published 43.3)"
    )

    console.rule("6. report from the database, and every published figure beside eap's")
    sdtm_cm = stored["CM"].frame if "CM" in stored else None
    ard = build_ard(derived.datasets, cm=sdtm_cm)
    paths = write_report(
        ard,
        out / "report",
        subtitle=f"Data cutoff 2014-11-05; study database {db_file} (virtual cohort, seed 2014).",
    )
    results = compare(ard)
    failed = [r for r in results if not r.ok]
    for r in failed:
        console.print(f"  [red]FAIL[/] {r.id}: published {r.published}, eap {r.computed}")
    console.print(
        f"{len(results)} published figures compared: {len(results) - len(failed)} reproduced "
        f"within tolerance, {len(failed)} not (analysis results data: {paths['ard']})"
    )
    console.print(f"Report: {paths['html']} and {paths['pdf']}; RTF in {paths['rtf']}/")
    console.print(f"Study database: {db_file}. To browse it in the web application:")
    console.print(f"  eap users add admin --role sponsor_admin --db {url}", highlight=False)
    console.print(f"  eap serve --db {url} --insecure-cookies", highlight=False)
    console.print(f"Outputs are in {out}/")
