"""``eap demo``: the end-to-end path that exists so far, on built-in data."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console


def run_demo(out: Path, console: Console) -> None:
    """Run every stage of the flow that eap has, and name the ones it does not have yet."""
    out.mkdir(parents=True, exist_ok=True)
    console.print(f"eap demo: outputs in {out}/")
    console.print("Not there yet: datasets, statistics, protocol, virtual cohort, report.")
