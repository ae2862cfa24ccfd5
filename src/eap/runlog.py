"""The run log written beside every output folder: what ran, on what, and what it found.

``run_log.json`` holds the eap version, the command line, the run's date, every input
file with its size and SHA-256 (a database by its URL without password), the
validation findings, what was imputed (per dataset, the records whose date
imputation flag, a ``--DTF`` variable, is set) and what was skipped, and the outputs
written. A reviewer can tell from it alone whether two reports came from the same data.

``eap report`` and ``eap derive`` write it in their output folder; ``eap db load`` beside
the SQLite database file as ``<file>.load-<UTC time>.json`` (``--log FOLDER`` elsewhere).
Its findings are the validation gate's (eap.gate.DataIssue): each with the number of
records it concerns, what the run did with them and every record (row, USUBJID, value).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from eap import __version__
from eap.datasets.atomic import write_atomic

NAME = "run_log.json"


def sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Each input file (folders opened, sorted by name) with its size and SHA-256."""
    out: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            out.append({"path": str(file), "bytes": file.stat().st_size, "sha256": sha256(file)})
    return out


def imputed(datasets: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Per dataset and date imputation flag (``--DTF``), the records imputed."""
    from eap.datasets.lazy import columns, scan

    out: dict[str, dict[str, int]] = {}
    for name in datasets:
        wanted = [c for c in columns(datasets, name) if c.endswith("DTF")]
        if not wanted:
            continue
        # Only the flags are read: a lazy dataset is not read whole for them.
        counts = scan(datasets, name).select(pl.col(wanted).is_not_null().sum()).collect()
        flags = {c: int(counts[c][0]) for c in wanted if counts[c][0]}
        if flags:
            out[name] = flags
    return out


def command_line() -> str:
    """The eap command as run: ``eap`` and its arguments."""
    return " ".join(["eap", *sys.argv[1:]])


def write_run_log(
    folder: Path,
    *,
    inputs: Sequence[dict[str, Any]] | str,
    findings: Iterable[Any] = (),
    imputations: Mapping[str, Mapping[str, int]] | None = None,
    skipped: Mapping[str, str] | None = None,
    outputs: Mapping[str, Path] | None = None,
    extra: Mapping[str, Any] | None = None,
    name: str = NAME,
    run_at: dt.datetime | None = None,
) -> Path:
    """Write ``run_log.json`` (or ``name``) in ``folder`` and return its path.

    ``run_at`` is the run's date (eap report's, SOURCE_DATE_EPOCH when set); else now.
    """
    log = {
        "eap_version": __version__,
        "command": command_line(),
        "run_at": (run_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "inputs": inputs,
        "findings": [_finding(f) for f in findings],
        "imputed": dict(imputations or {}),
        "skipped": dict(skipped or {}),
        "outputs": {k: str(v) for k, v in (outputs or {}).items()},
        **dict(extra or {}),
    }
    text = json.dumps(log, indent=2, default=str)
    path = folder / name

    def write(target: Path) -> None:
        target.write_text(text, encoding="utf-8")

    write_atomic(path, write)
    return path


def _finding(finding: Any) -> dict[str, Any]:
    if hasattr(finding, "to_json"):
        return dict(finding.to_json())
    if hasattr(finding, "__dict__"):
        return {k: v for k, v in vars(finding).items() if not k.startswith("_")}
    return {"finding": str(finding)}
