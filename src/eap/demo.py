"""``eap demo``: the whole flow on the built-in MM-024 study.

Protocol -> virtual cohort (SDTM, seed 2014) -> validation -> a fresh SQLite study
database holding the cohort -> SDTM exported from that database -> ADaM -> the
report and its ARD -> every published figure reproduced. Outputs go under ``out``.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from eap.ard import run_plan
from eap.datasets.define import write_define
from eap.datasets.io import read_dataset, write_dataset
from eap.datasets.validate import validate_datasets
from eap.derive import derive_all
from eap.derive.docs import variable_rules
from eap.plans.plan import load_plan
from eap.plans.study import load_study
from eap.protocol import load_protocol
from eap.protocol.views import dose_dict, dose_view
from eap.report import write_report
from eap.report.reproduce import compare
from eap.report_console import comparison_table, print_findings
from eap.simulate import CUTOFF, simulate
from eap.store.bootstrap import init_study
from eap.store.export import sdtm_from_url
from eap.store.transfer import load_sdtm

# Groups of published figures the demo prints in full, by id prefix (eap reproduce
# prints all 255).
SHOWN = (
    ("exposure.", "Lenalidomide exposure"),
    ("ae.table2.", "Table 2: grade 3-4 AEs in >= 3% of the safety population"),
    ("table4.", "Table 4: median months (95% CI), log-log CI, R quantile rule"),
    ("follow_up_median_months.", "Median follow-up from MM-021 enrollment, months"),
)


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

    console.rule(
        "5. ADaM from the database: ADSL, ADAE, ADCM, ADEX, ADTTE, ADRS at cutoff 2014-11-05"
    )
    derived = derive_all(stored, CUTOFF)
    for name, ds in derived.datasets.items():
        write_dataset(ds, out / "adam" / f"{name.lower()}.xpt")
        console.print(f"{name}: {ds.n_rows} rows -> {out / 'adam' / (name.lower() + '.xpt')}")
    for name, why in derived.skipped.items():
        console.print(f"{name} not derived: {why}")
    study = load_study("mm024")
    define = write_define(
        out / "adam",
        derived.datasets,
        {name: f"{name.lower()}.xpt" for name in derived.datasets},
        study_id=study.id,
        study_title=study.title,
        methods=variable_rules(study),
    )
    console.print(f"define.xml 2.1 (valid against the CDISC schema) -> {define}")
    console.rule("6. report from the database, and every published figure beside eap's")
    plan = load_plan("mm024")
    result = run_plan(plan, derived.datasets)
    paths = write_report(
        result.ard,
        out / "report",
        plan,
        subtitle=f"Data cutoff 2014-11-05; study database {db_file} (virtual cohort, seed 2014).",
        skipped=result.skipped,
        metadata=result.metadata,
    )
    results = compare(result.ard)
    for prefix, title in SHOWN:
        shown = [r for r in results if r.id.startswith(prefix)]
        console.print(comparison_table(shown, title, strip=prefix))
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
