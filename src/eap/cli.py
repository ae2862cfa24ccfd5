"""The ``eap`` command. One thin function per verb; the work happens in the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from eap import __version__
from eap.errors import EapError

app = typer.Typer(
    name="eap",
    help=(
        "Run and report an oncology extended-access program (built-in study: MM-024, "
        "lenalidomide + low-dose dexamethasone after MM-021)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.command()
def version() -> None:
    """Print the eap version."""
    console.print(__version__)


@app.command()
def validate(
    folder: Annotated[
        Path, typer.Argument(help="Folder of dataset files (.xpt .sas7bdat .parquet .json .csv).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    max_rows: Annotated[int, typer.Option(help="Row numbers shown per finding.")] = 10,
) -> None:
    """Check a folder of SDTM/ADaM datasets against eap's specifications.

    Reports unknown datasets, missing variables, wrong types, duplicate keys,
    values outside codelists, malformed ISO 8601 dates, subjects missing from
    DM/ADSL and end dates before start dates. Exit status 1 when there is an error.
    """
    from eap.datasets.validate import validate_folder
    from eap.report_console import print_findings, progress_bar

    files = _dataset_files(folder)
    with progress_bar(console, as_json) as bar:
        task = bar.add_task("validating", total=len(files))
        report = validate_folder(
            folder, progress=lambda p: bar.update(task, advance=1, description=p.name)
        )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        print_findings(console, report, max_rows=max_rows)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def convert(
    sources: Annotated[list[Path], typer.Argument(help="Dataset files, or folders of them.")],
    to: Annotated[str, typer.Option("--to", help="Target format: xpt, parquet, json or csv.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
) -> None:
    """Convert datasets between SAS XPT, SAS7BDAT (read only), Parquet, Dataset-JSON and CSV."""
    from eap.datasets.io import WRITABLE, read_dataset, write_dataset
    from eap.report_console import progress_bar

    if to not in WRITABLE:
        raise EapError(
            "unknown target format", variable="--to", expected=", ".join(WRITABLE), found=to
        )
    files = [f for src in sources for f in (_dataset_files(src) if src.is_dir() else [src])]
    with progress_bar(console, False) as bar:
        task = bar.add_task("converting", total=len(files))
        for path in files:
            bar.update(task, description=path.name)
            ds = read_dataset(path)
            target = write_dataset(ds, out / f"{path.stem.lower()}.{to}", format=to)  # type: ignore[arg-type]
            bar.update(task, advance=1)
            console.print(f"{path} -> {target} ({ds.n_rows} rows)")


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="A dataset file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
) -> None:
    """Show a dataset's name, label, size and variables (label, type, length, format)."""
    from eap.datasets.io import read_dataset
    from eap.report_console import print_dataset_info

    ds = read_dataset(file)
    if as_json:
        meta = {
            "name": ds.name,
            "label": ds.label,
            "rows": ds.n_rows,
            "columns": [c.to_json() for c in ds.columns],
        }
        typer.echo(json.dumps(meta, indent=2))
    else:
        print_dataset_info(console, ds)


def _dataset_files(folder: Path) -> list[Path]:
    from eap.datasets.io import dataset_files

    return dataset_files(folder)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("demo-output"),
) -> None:
    """Run the end-to-end path that exists so far, and say what is not there yet."""
    from eap.demo import run_demo

    run_demo(out, console)


# --------------------------------------------------------------------------- protocol

protocol_app = typer.Typer(
    help="The study protocol: rules, renal dosing, cycle calendar, rollover and visits.",
    no_args_is_help=True,
)
app.add_typer(protocol_app, name="protocol")

ProtocolFile = Annotated[
    Path | None,
    typer.Option("--protocol", help="Protocol TOML file (default: the built-in MM-024)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _emit(as_json: bool, data: object, view: object) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        console.print(view)


@protocol_app.command("show")
def protocol_show(protocol: ProtocolFile = None, as_json: AsJson = False) -> None:
    """Summarise the whole protocol: phases, regimen, dose reduction, limits, follow-up."""
    from eap.protocol import load_protocol, views

    p = load_protocol(protocol)
    _emit(as_json, views.protocol_dict(p), views.protocol_view(p) if not as_json else None)


@protocol_app.command("dose")
def protocol_dose(
    crcl: Annotated[float | None, typer.Option(help="Creatinine clearance, mL/min.")] = None,
    age: Annotated[float | None, typer.Option(help="Age in years.")] = None,
    weight_kg: Annotated[float | None, typer.Option(help="Body weight in kg.")] = None,
    creatinine: Annotated[float | None, typer.Option(help="Serum creatinine.")] = None,
    sex: Annotated[str | None, typer.Option(help="M or F.")] = None,
    unit: Annotated[str, typer.Option(help="Creatinine unit: mg/dL or umol/L.")] = "mg/dL",
    carried_over_dose: Annotated[
        float | None, typer.Option(help="Lenalidomide dose (mg) kept from the parent trial.")
    ] = None,
    carried_over_frequency: Annotated[
        str | None, typer.Option(help="daily or every_other_day (default: the renal band's).")
    ] = None,
    protocol: ProtocolFile = None,
    as_json: AsJson = False,
) -> None:
    """CrCl (given, or Cockcroft-Gault), renal band, starting dose and schedule."""
    from eap.protocol import load_protocol, views

    result = views.dose_dict(
        load_protocol(protocol),
        crcl=crcl,
        age=age,
        weight_kg=weight_kg,
        creatinine=creatinine,
        sex=sex,
        creatinine_unit=unit,
        carried_over_dose=carried_over_dose,
        carried_over_frequency=carried_over_frequency,
    )
    _emit(as_json, result, views.dose_view(result) if not as_json else None)


@protocol_app.command("calendar")
def protocol_calendar(
    start: Annotated[str, typer.Option(help="Day 1 of cycle 1, YYYY-MM-DD.")],
    cycles: Annotated[int, typer.Option(help="Number of 28-day cycles.")] = 1,
    crcl: Annotated[
        float | None, typer.Option(help="Creatinine clearance (mL/min) for the full dose.")
    ] = None,
    dose: Annotated[
        float | None, typer.Option(help="Lenalidomide dose (mg) on the ladder, instead of CrCl.")
    ] = None,
    frequency: Annotated[
        str | None, typer.Option(help="With --dose: daily (default) or every_other_day.")
    ] = None,
    protocol: ProtocolFile = None,
    as_json: AsJson = False,
) -> None:
    """Planned dose of each drug on each day, and planned dose intensity."""
    from eap.protocol import load_protocol, views

    p = load_protocol(protocol)
    cal = views.build_calendar(
        p, start=start, cycles=cycles, crcl=crcl, dose=dose, frequency=frequency
    )
    _emit(as_json, views.calendar_dict(p, cal) if as_json else None, views.calendar_view(cal))


@protocol_app.command("eligibility")
def protocol_eligibility(
    file: Annotated[Path, typer.Argument(help="JSON file of patients' parent-trial facts.")],
    protocol: ProtocolFile = None,
    as_json: AsJson = False,
) -> None:
    """Rollover decision for each patient: Treatment, Safety Follow-Up or not eligible."""
    from eap.protocol import load_protocol, views

    decisions = views.eligibility_decisions(load_protocol(protocol), file)
    _emit(as_json, [d.as_dict() for d in decisions], views.eligibility_view(decisions))


@protocol_app.command("visits")
def protocol_visits(
    file: Annotated[Path, typer.Argument(help="JSON file of patients' follow-up visits.")],
    as_of: Annotated[str, typer.Option(help="Status as of this date, YYYY-MM-DD.")],
    protocol: ProtocolFile = None,
    as_json: AsJson = False,
) -> None:
    """Each follow-up visit's target, window and status; the treatment limit date."""
    from eap.protocol import load_protocol, views

    schedules = views.visit_schedules(load_protocol(protocol), file, as_of)
    _emit(as_json, [s.as_dict() for s in schedules], views.visits_view(schedules))


@protocol_app.command("thromboprophylaxis")
def protocol_thromboprophylaxis(
    high_risk: Annotated[
        bool, typer.Option("--high-risk/--not-high-risk", help="High risk of VTE?")
    ],
    aspirin_contraindicated: Annotated[
        bool, typer.Option(help="Is aspirin contraindicated?")
    ] = False,
    protocol: ProtocolFile = None,
    as_json: AsJson = False,
) -> None:
    """VTE prophylaxis recommendation, with its reason."""
    from eap.protocol import load_protocol, views

    rec = views.thromboprophylaxis_dict(
        load_protocol(protocol),
        high_vte_risk=high_risk,
        aspirin_contraindicated=aspirin_contraindicated,
    )
    text = ("; ".join(rec["options"]) or "none") + f" ({rec['reason']})"
    _emit(as_json, rec, text)


def main() -> None:
    """Entry point: turn every EapError into a one-line message and exit status 2."""
    try:
        app()
    except EapError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
