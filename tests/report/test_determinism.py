"""Reproducible report files: SOURCE_DATE_EPOCH fixes the run date, nothing else varies.

Each run is its own process (``eap report`` as a user runs it) with its own
PYTHONHASHSEED, so an order that came from iterating a set or a dict of strings, or
from an unordered group-by, would show as different bytes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

# 1 700 000 000 s after the epoch is 2023-11-14T22:13:20Z; 1 800 000 000 s is
# 2027-01-15T08:00:00Z (20 833 days = 1 799 971 200 s, plus 28 800 s = 8 h).
EPOCHS = {1_700_000_000: "2023-11-14T22:13:20Z", 1_800_000_000: "2027-01-15T08:00:00Z"}
SRC = Path(__file__).resolve().parents[2] / "src"


def _run(out: Path, keep: Path, epoch: int | None, hash_seed: str) -> Path:
    """``eap report --out out`` in a process of its own; its folder moved to ``keep``.

    Every run writes to the same --out: the command line is printed in the footer."""
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["PYTHONHASHSEED"] = hash_seed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(SRC), env.get("PYTHONPATH"))))
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = str(epoch)
    command = [sys.executable, "-c", "from eap.cli import main; main()", "report"]
    done = subprocess.run(
        [*command, "--out", str(out)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    shutil.move(out, keep)
    return keep


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two runs at one SOURCE_DATE_EPOCH, one at another, one without it."""
    base = tmp_path_factory.mktemp("determinism")
    out = base / "out"
    return {
        "a": _run(out, base / "a", 1_700_000_000, "1"),
        "b": _run(out, base / "b", 1_700_000_000, "2"),
        "c": _run(out, base / "c", 1_800_000_000, "3"),
        "now": _run(out, base / "now", None, "4"),
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _pdf_pages(data: bytes, run_at: str) -> list[bytes]:
    """Each page's content stream, decompressed, with the run date blanked."""
    import io

    reader = pypdf.PdfReader(io.BytesIO(data))
    pages = []
    for page in reader.pages:
        contents = page.get_contents()
        assert contents is not None
        pages.append(contents.get_data().replace(run_at.encode(), b"<run date>"))
    return pages


def _same_but_the_run_date(first: Path, second: Path, dates: tuple[str, str]) -> None:
    one, two = _files(first), _files(second)
    assert sorted(one) == sorted(two)
    differ = sorted(name for name in one if one[name] != two[name])
    for name in differ:
        if name.endswith(".pdf"):
            pages = [_pdf_pages(one[name], dates[0]), _pdf_pages(two[name], dates[1])]
            assert pages[0] == pages[1], name
            continue
        texts = [
            data.decode("utf-8").replace(date, "<run date>").replace(date[:-1], "<run date>")
            for data, date in zip((one[name], two[name]), dates, strict=True)
        ]
        assert texts[0] == texts[1], name
    # The files that hold the run date: the report in each format and the run log.
    assert "report.html" in differ and "report.pdf" in differ and "run_log.json" in differ
    assert "rtf/DMT01.rtf" in differ
    assert not [n for n in differ if n.startswith(("ard", "figures/"))]


def test_source_date_epoch_gives_byte_identical_files(runs: dict[str, Path]) -> None:
    a, b = _files(runs["a"]), _files(runs["b"])
    assert sorted(a) == sorted(b)
    assert {"ard.parquet", "ard.json", "report.html", "report.pdf", "run_log.json"} <= set(a)
    assert len([n for n in a if n.startswith("rtf/")]) == 26  # 19 tables, 7 figures
    assert [name for name in a if a[name] != b[name]] == []
    # The run date is SOURCE_DATE_EPOCH's, in every format.
    shown = EPOCHS[1_700_000_000]
    assert shown in (runs["a"] / "report.html").read_text()
    assert shown in (runs["a"] / "rtf" / "AET04.rtf").read_text()
    assert json.loads((runs["a"] / "run_log.json").read_text())["run_at"].startswith(shown[:-1])
    reader = pypdf.PdfReader(runs["a"] / "report.pdf")
    assert all(shown in page.extract_text() for page in reader.pages)
    assert reader.metadata is not None and reader.metadata["/CreationDate"].startswith(
        "D:20231114221320"
    )


def test_another_run_date_changes_only_the_run_date(runs: dict[str, Path]) -> None:
    _same_but_the_run_date(runs["a"], runs["c"], (EPOCHS[1_700_000_000], EPOCHS[1_800_000_000]))


def test_without_source_date_epoch_only_the_run_date_differs(runs: dict[str, Path]) -> None:
    # The run's own date, as its run log states it (ISO 8601, seconds, UTC).
    run_at = json.loads((runs["now"] / "run_log.json").read_text())["run_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", run_at)
    now = run_at.removesuffix("+00:00") + "Z"
    _same_but_the_run_date(runs["a"], runs["now"], (EPOCHS[1_700_000_000], now))
