"""Rich rendering of eap results for the terminal (the CLI's presentation layer)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from eap.datasets.model import Dataset
from eap.datasets.validate import Report
from eap.report.reproduce import Comparison


def progress_bar(console: Console, quiet: bool) -> Progress:
    """A transient progress bar; disabled when ``quiet`` so JSON output stays clean."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    )


def _rows_text(rows: tuple[int, ...], limit: int) -> str:
    if not rows:
        return ""
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f" (+{len(rows) - limit})" if len(rows) > limit else "")


def print_findings(console: Console, report: Report, *, max_rows: int = 10) -> None:
    """One block per finding: where (file, dataset.variable, rows), what, expected and found."""
    for f in report.findings:
        style = "red" if f.severity == "error" else "yellow"
        where = f.dataset + (f".{f.variable}" if f.variable else "")
        rows = _rows_text(f.rows, max_rows)
        console.print(
            f"[{style}]{f.severity}[/] [bold]{where}[/]"
            + (f" rows {rows}" if rows else "")
            + f"  [dim]{f.check}[/]",
            highlight=False,
        )
        console.print(f"    {f.message}", highlight=False, soft_wrap=True)
        if f.expected:
            console.print(f"    expected: {f.expected}", highlight=False, soft_wrap=True)
        if f.found:
            console.print(f"    found:    {f.found}", highlight=False, soft_wrap=True)
    verdict = "[green]valid[/]" if report.ok else "[red]not valid[/]"
    console.print(
        f"{len(report.datasets)} datasets checked: {len(report.errors)} errors, "
        f"{len(report.warnings)} warnings — {verdict}"
    )


def print_dataset_info(console: Console, ds: Dataset) -> None:
    console.print(f"[bold]{ds.name}[/] {ds.label}  {ds.n_rows} rows, {len(ds.columns)} variables")
    if "encoding" in ds.extra:
        console.print(f"text encoding: {ds.extra['encoding']}", highlight=False)
    table = Table(header_style="bold")
    for col in ("variable", "label", "type", "length", "format"):
        table.add_column(col)
    for c in ds.columns:
        table.add_row(c.name, c.label, c.kind, str(c.length or ""), c.display_format or "")
    console.print(table)


def comparison_table(results: Sequence[Comparison], title: str, strip: str = "") -> Table:
    """Published figures beside eap's, with tolerance and verdict (eap reproduce, eap demo).

    ``strip`` is a prefix the ids share, left out of the id column.
    """
    table = Table(title=title)
    for col in ("id", "published", "eap", "tolerance", "ok"):
        table.add_column(col, overflow="fold")
    for r in results:
        mark = "[green]ok[/]" if r.ok else "[red]FAIL[/]"
        table.add_row(
            r.id.removeprefix(strip), str(r.published), str(r.computed), r.tolerance, mark
        )
    return table
