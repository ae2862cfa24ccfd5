"""The ``eap`` command. One thin function per verb; the work happens in the library."""

from __future__ import annotations

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
