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


@app.command()
def km(
    file: Annotated[Path, typer.Argument(help="An ADTTE-like dataset (xpt, parquet, csv, json).")],
    time: Annotated[str, typer.Option(help="Time variable, e.g. AVAL.")],
    censor: Annotated[
        str | None, typer.Option(help="Censoring variable, 1 = censored (CDISC CNSR).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="Event indicator, 1 = event.")] = None,
    by: Annotated[str | None, typer.Option(help="One curve per level, e.g. TRT01A.")] = None,
    where: Annotated[
        str | None, typer.Option(help="Row filter, e.g. \"PARAMCD == 'PFS' and SAFFL == 'Y'\".")
    ] = None,
    conf_type: Annotated[
        str, typer.Option(help="log-log (SAS default), log (R default), plain, logit, arcsin.")
    ] = "log-log",
    conf_level: Annotated[float, typer.Option(help="Confidence level.")] = 0.95,
    convention: Annotated[str, typer.Option(help="Quantile and landmark rules: R or SAS.")] = "R",
    at: Annotated[str | None, typer.Option(help="Landmark times, e.g. 0,20,40.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Kaplan-Meier medians and quartiles with CIs, landmarks and the log-rank test."""
    from eap.datasets.io import read_dataset
    from eap.stats.frame import km_from_frame, km_json, km_tables, parse_times

    report = km_from_frame(
        read_dataset(file).frame,
        time=time,
        censor=censor,
        event=event,
        by=by,
        where=where,
        conf_type=conf_type,
        conf_level=conf_level,
        convention=convention,
        at=parse_times(at),
    )
    if as_json:
        typer.echo(json.dumps(km_json(report), indent=2))
    else:
        for table in km_tables(report):
            console.print(table)


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


def main() -> None:
    """Entry point: turn every EapError into a one-line message and exit status 2."""
    try:
        app()
    except EapError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
