"""No traceback for any input: every verb that reads files, on generated broken input.

Hypothesis breaks small valid inputs (the TOY-01 study's SDTM and the ADaM eap derives
from them, a few patients of the virtual MM-024 cohort) in the ways real transfers
break: columns missing, renamed or added; values of the wrong type; empty and
header-only files; files cut short; the wrong extension; text that is not UTF-8;
absurd dates (0000-00-00, 9999-99-99, 2014-02-30); duplicated keys; NaN and infinite
numbers. Whatever the input, each verb ends with exit status 0, 1 or 2, and the only
exceptions allowed are eap's own (EapError, which names the file, dataset, variable and
rows) and SystemExit (typer.Exit, and Click's usage errors). ``CASES`` counts the
generated cases per verb (2,465 in all).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import typer.main
import typer.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from eap.cli import app
from eap.datasets.io import read_dataset, write_dataset
from eap.errors import EapError
from eap.simulate import simulate
from eap.store.bootstrap import init_study
from tests.conftest import DATA

TOY = DATA / "toy_study"
runner = CliRunner()

CASES = {
    "validate": 420,
    "info": 520,
    "convert": 250,
    "km": 520,
    "km options": 250,
    "--encoding": 150,
    "derive": 220,
    "report --sdtm": 35,
    "report --adam": 45,
    "reproduce --sdtm": 25,
    "db load": 30,
}
assert sum(CASES.values()) == 2465


# EAP_FUZZ_SCALE=10 runs ten times as many cases, and EAP_FUZZ_RANDOM=1 other cases at
# each run (a longer search, before a release); by default the cases are the same each run.
SCALE = float(os.environ.get("EAP_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("EAP_FUZZ_RANDOM") == "1"


def _settings(verb: str) -> settings:
    return settings(
        max_examples=max(1, round(CASES[verb] * SCALE)),
        deadline=None,
        derandomize=not RANDOM,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )


# --------------------------------------------------------------------------- the inputs

ABSURD = [
    "0000-00-00",
    "9999-99-99",
    "2014-02-30",
    "05OCT2011",
    "2011-13-45",
    "2021-01-04T25:61",
    "--",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-0",
    "",
    " ",
    "NA",
    ".",
    "１２",
    "é",
    "Y",
    "N",
    "1.5",
    "-1",
    "0",
    "99999999999999999999",
    "TOY-001",
    "MM024-01-0001",
    '"',
    ",",
    "\n",
]
NAMES = ["USUBJID", "AESEQ", "AESTDTC", "AVAL", "CNSR", "PARAMCD", "X", "", "AGE", "é", "1A"]
cells = st.one_of(
    st.sampled_from(ABSURD),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
index = st.integers(min_value=0, max_value=10_000)
EXTENSIONS = [".csv", ".xpt", ".parquet", ".json", ".sas7bdat", ".txt", ".CSV"]

# A mutation of one dataset: (kind, arguments). Frame mutations work on the text of a
# CSV (every column a string); byte mutations on the file as written.
frame_mutation = st.one_of(
    st.tuples(st.just("drop"), index),
    st.tuples(st.just("rename"), index, st.sampled_from(NAMES)),
    st.tuples(st.just("extra"), st.sampled_from(NAMES), cells),
    st.tuples(st.just("cell"), index, index, cells),
    st.tuples(st.just("column"), index, cells),
    st.tuples(st.just("duplicate"), index),
    st.tuples(st.just("header-only")),
    st.tuples(st.just("shuffle-columns"), st.randoms(use_true_random=False)),
)
byte_mutation = st.one_of(
    st.tuples(st.just("empty")),
    st.tuples(st.just("truncate"), index),
    st.tuples(st.just("insert"), index, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("flip"), index),
    st.tuples(
        st.just("cp1252"),
    ),
    st.tuples(st.just("extension"), st.sampled_from(EXTENSIONS)),
)
mutation = st.one_of(frame_mutation, frame_mutation, byte_mutation)


def _frame(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def _csv_text(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def mutate_frame(frame: pl.DataFrame, m: tuple[object, ...]) -> pl.DataFrame | bytes:
    """The frame broken as ``m`` says (bytes for a file that is not a frame any more)."""
    kind, *args = m
    cols = frame.columns
    if kind == "header-only":
        return frame.head(0)
    if not cols:
        return frame
    col = cols[int(args[0]) % len(cols)] if args and isinstance(args[0], int) else cols[0]
    if kind == "drop":
        return frame.drop(col)
    if kind == "rename":
        new = str(args[1])
        if new in cols:
            return frame
        return frame.rename({col: new})
    if kind == "extra":
        name = str(args[0])
        if not name or name in cols:
            return frame
        return frame.with_columns(pl.lit(str(args[1]), dtype=pl.String).alias(name))
    if kind == "cell":
        if frame.height == 0:
            return frame
        row = int(args[0]) % frame.height
        target = cols[int(args[1]) % len(cols)]
        values = frame[target].to_list()
        values[row] = str(args[2])
        return frame.with_columns(pl.Series(target, values, dtype=pl.String))
    if kind == "column":
        return frame.with_columns(pl.lit(str(args[1]), dtype=pl.String).alias(col))
    if kind == "duplicate":
        if frame.height == 0:
            return frame
        row = int(args[0]) % frame.height
        return pl.concat([frame, frame.slice(row, 1)])
    if kind == "shuffle-columns":
        order = list(cols)
        args[0].shuffle(order)  # type: ignore[attr-defined]
        return frame.select(order)
    raise AssertionError(kind)


def mutate_bytes(raw: bytes, m: tuple[object, ...]) -> bytes:
    kind, *args = m
    if kind == "empty":
        return b""
    if kind == "truncate":
        return raw[: int(args[0]) % (len(raw) + 1)]
    if kind == "insert":
        at = int(args[0]) % (len(raw) + 1)
        return raw[:at] + bytes(args[1]) + raw[at:]  # type: ignore[arg-type]
    if kind == "flip":
        if not raw:
            return raw
        at = int(args[0]) % len(raw)
        return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]
    if kind == "cp1252":
        return raw.replace(b"e", "\u00e9".encode("cp1252"), 3).replace(b",", b"\x92,", 1)
    raise AssertionError(kind)


def apply(path: Path, mutations: list[tuple[object, ...]]) -> Path:
    """Break the dataset file ``path`` in place (or move it, for a new extension)."""
    for m in mutations:
        if not path.exists():
            return path
        if m[0] == "extension":
            target = path.with_suffix(str(m[1]))
            if target != path and target.exists():
                target.unlink()
            path = path.rename(target)
        elif m[0] in ("empty", "truncate", "insert", "flip", "cp1252"):
            path.write_bytes(mutate_bytes(path.read_bytes(), m))
        else:
            if path.suffix != ".csv":
                continue  # frame mutations are made on CSV text
            try:
                frame = _frame(path)
            except pl.exceptions.PolarsError:
                continue  # already broken beyond a frame
            path.write_bytes(_csv_text(mutate_frame(frame, m)))  # type: ignore[arg-type]
    return path


# --------------------------------------------------------------------------- the checks

# A usage error (Click's) ends as SystemExit with status 2 under the runner.
ALLOWED = (EapError, SystemExit)


def ok(result: Result, what: str) -> None:
    """Exit status 0, 1 or 2, and no exception but eap's own, SystemExit or usage errors."""
    exc = result.exception
    if exc is not None and not isinstance(exc, ALLOWED):
        shown = "".join(traceback.format_exception(exc))
        raise AssertionError(f"{what}: traceback\n{shown}")
    assert result.exit_code in (0, 1, 2), (what, result.exit_code, result.output[-2000:])


@dataclass(frozen=True)
class Base:
    """Valid inputs, prepared once: the toy study's SDTM (CSV and XPT) and derived ADaM,
    and a few MM-024 patients' SDTM."""

    root: Path
    toy_csv: Path
    toy_xpt: Path
    toy_adam: Path
    mm024: Path
    database: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("fuzz-base")
    toy_csv = root / "toy_csv"
    shutil.copytree(TOY / "sdtm", toy_csv)
    toy_xpt = root / "toy_xpt"
    for file in sorted(toy_csv.iterdir()):
        write_dataset(read_dataset(file), toy_xpt / f"{file.stem}.xpt")
    toy_adam = root / "toy_adam"
    derived = runner.invoke(
        app,
        ["derive", str(toy_csv), "--study", str(TOY), "--out", str(toy_adam), "--format", "csv"],
    )
    assert derived.exit_code == 0, derived.output
    for name in ("adsl", "adtte"):
        ds = read_dataset(toy_adam / f"{name}.csv")
        write_dataset(ds, toy_adam / f"{name}.xpt")
        write_dataset(ds, toy_adam / f"{name}.parquet")
        write_dataset(ds, toy_adam / f"{name}.json")
    mm024 = root / "mm024"
    cohort = simulate(2014)
    keep = cohort["DM"].frame["USUBJID"].head(3).implode()
    for name, ds in cohort.items():
        small = ds.frame.filter(pl.col("USUBJID").is_in(keep))
        write_dataset(
            type(ds)(name=ds.name, frame=small, columns=ds.columns, label=ds.label),
            mm024 / f"{name.lower()}.csv",
        )
    database = root / "template.db"
    init_study(f"sqlite:///{database}")  # the schema, made once (each case copies it)
    return Base(root, toy_csv, toy_xpt, toy_adam, mm024, database)


@pytest.fixture(autouse=True)
def _one_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the Click command of the app once per test, not once per generated case."""
    command = typer.main.get_command(app)
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: command)


@pytest.fixture
def scratch(base: Base) -> Iterator[Callable[[], Path]]:
    """A fresh folder per generated case (removed after it)."""
    made: list[Path] = []

    def new() -> Path:
        folder = Path(tempfile.mkdtemp(dir=base.root, prefix="case-"))
        made.append(folder)
        return folder

    yield new
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def broken_folder(
    source: Path, into: Path, plan: dict[str, list[tuple[object, ...]]], drop: set[str]
) -> Path:
    """A copy of ``source`` with the named files broken and ``drop`` left out."""
    folder = into / "data"
    folder.mkdir()
    for file in sorted(source.iterdir()):
        if file.stem in drop or file.name == "run_log.json":
            continue
        target = folder / file.name
        shutil.copyfile(file, target)
        if file.stem in plan:
            apply(target, plan[file.stem])
    return folder


def folder_plans(names: list[str]) -> st.SearchStrategy[tuple[dict[str, list], set[str]]]:
    """Which datasets to break and how (one to three of them), and which to leave out."""
    return st.tuples(
        st.dictionaries(
            st.sampled_from(names),
            st.lists(mutation, min_size=1, max_size=3),
            min_size=1,
            max_size=3,
        ),
        st.sets(st.sampled_from(names), max_size=1),
    )


TOY_NAMES = ["ae", "dm", "ds", "ex"]
MM024_NAMES = ["ae", "cm", "dm", "ds", "ex", "lb", "mh", "rs", "suppae", "sv", "vs"]


# --------------------------------------------------------------------------- the verbs


@_settings("validate")
@given(plan=folder_plans(TOY_NAMES), xpt=st.booleans(), as_json=st.booleans())
def test_validate(
    base: Base, scratch: Callable[[], Path], plan: tuple[dict, set], xpt: bool, as_json: bool
) -> None:
    folder = broken_folder(base.toy_xpt if xpt else base.toy_csv, scratch(), *plan)
    result = runner.invoke(app, ["validate", str(folder), *(["--json"] if as_json else [])])
    ok(result, f"validate {plan}")


def _one_file(base: Base, into: Path, name: str, fmt: str, muts: list[tuple[object, ...]]) -> Path:
    sources = {
        "ae": base.toy_csv / "ae.csv",
        "dm": base.toy_csv / "dm.csv",
        "adsl": base.toy_adam / "adsl.csv",
        "adtte": base.toy_adam / "adtte.csv",
    }
    source = sources[name]
    if fmt != "csv":
        source = (base.toy_adam if name.startswith("ad") else base.toy_xpt) / f"{name}.{fmt}"
        if not source.exists():
            source = base.toy_xpt / f"{name}.xpt"
    target = into / source.name
    shutil.copyfile(source, target)
    return apply(target, muts)


file_case = st.tuples(
    st.sampled_from(["ae", "dm", "adsl", "adtte"]),
    st.sampled_from(["csv", "csv", "xpt", "parquet", "json"]),
    st.lists(mutation, min_size=1, max_size=3),
)


@_settings("info")
@given(case=file_case, as_json=st.booleans())
def test_info(base: Base, scratch: Callable[[], Path], case: tuple, as_json: bool) -> None:
    file = _one_file(base, scratch(), *case)
    result = runner.invoke(app, ["info", str(file), *(["--json"] if as_json else [])])
    ok(result, f"info {case}")


@_settings("convert")
@given(case=file_case, to=st.sampled_from(["xpt", "parquet", "json", "csv"]))
def test_convert(base: Base, scratch: Callable[[], Path], case: tuple, to: str) -> None:
    into = scratch()
    file = _one_file(base, into, *case)
    result = runner.invoke(app, ["convert", str(file), "--to", to, "--out", str(into / "out")])
    ok(result, f"convert {case} --to {to}")


KM_OPTIONS = [
    ["--time", "AVAL", "--censor", "CNSR"],
    ["--time", "AVAL", "--censor", "CNSR", "--by", "TRTA"],
    ["--time", "AVAL", "--censor", "CNSR", "--by", "TRT01A", "--at", "30,60", "--json"],
    ["--time", "AVAL", "--event", "CNSR", "--where", "PARAMCD == 'TTDEATH'"],
    ["--time", "AVAL", "--censor", "CNSR", "--where", "AVAL > "],
    ["--time", "AVAL", "--censor", "CNSR", "--conf-type", "logit", "--convention", "SAS"],
]


@_settings("km")
@given(
    fmt=st.sampled_from(["csv", "csv", "csv", "xpt", "parquet", "json"]),
    muts=st.lists(mutation, min_size=1, max_size=3),
    options=st.sampled_from(KM_OPTIONS),
)
def test_km(
    base: Base, scratch: Callable[[], Path], fmt: str, muts: list, options: list[str]
) -> None:
    file = _one_file(base, scratch(), "adtte", fmt, muts)
    result = runner.invoke(app, ["km", str(file), *options])
    ok(result, f"km {fmt} {muts} {options}")


TOKENS = ["AVAL", "CNSR", "PARAMCD", "TRTA", "==", "!=", ">", "<", ">=", "and", "or", "not"]
TOKENS += ["in", "(", ")", "'X'", "1", "1.5", "null", "is", "[", "]", ",", "'", '"', "nan", "1e999"]
variables = st.sampled_from(["AVAL", "CNSR", "TRTA", "TRT01A", "USUBJID", "PARAMCD", "ADT", "X"])


@_settings("km options")
@given(
    time=variables,
    status=st.tuples(st.sampled_from(["--censor", "--event"]), variables),
    by=st.one_of(st.none(), variables, st.text(max_size=6)),
    where=st.one_of(
        st.text(max_size=20), st.lists(st.sampled_from(TOKENS), max_size=8).map(" ".join)
    ),
    at=st.one_of(st.none(), st.text(max_size=10), st.just("0,30,1e999,-5")),
    conf=st.tuples(
        st.sampled_from(["log-log", "log", "plain", "logit", "arcsin", "x"]),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.sampled_from(["R", "SAS", "x"]),
    ),
)
def test_km_options(
    base: Base,
    time: str,
    status: tuple[str, str],
    by: str | None,
    where: str,
    at: str | None,
    conf: tuple[str, str, str],
) -> None:
    args = ["km", str(base.toy_adam / "adtte.csv"), "--time", time, *status, "--where", where]
    args += ["--conf-type", conf[0], "--conf-level", conf[1], "--convention", conf[2]]
    args += [*(["--by", by] if by is not None else []), *(["--at", at] if at is not None else [])]
    ok(runner.invoke(app, args), f"km {args}")


CODECS = ["utf-16", "utf-32", "ascii", "utf_8_sig", "rot13", "base64", "hex", "zlib", "idna"]
CODECS += ["punycode", "undefined", "unicode_escape", "utf-7", "cp037", "shift_jis", "latin-1"]


@_settings("--encoding")
@given(
    encoding=st.one_of(st.text(max_size=12), st.sampled_from(CODECS)),
    verb=st.sampled_from(["validate", "info", "convert"]),
    xpt=st.booleans(),
)
def test_encoding_names(
    base: Base, scratch: Callable[[], Path], encoding: str, verb: str, xpt: bool
) -> None:
    folder = base.toy_xpt if xpt else base.toy_csv
    target = folder if verb == "validate" else folder / ("ae.xpt" if xpt else "ae.csv")
    args = [verb, str(target), "--encoding", encoding]
    if verb == "convert":
        args += ["--to", "csv", "--out", str(scratch())]
    ok(runner.invoke(app, args), f"{args}")


@_settings("derive")
@given(
    plan=folder_plans(TOY_NAMES),
    xpt=st.booleans(),
    allow=st.booleans(),
    fmt=st.sampled_from(["csv", "xpt"]),
)
def test_derive(
    base: Base, scratch: Callable[[], Path], plan: tuple, xpt: bool, allow: bool, fmt: str
) -> None:
    into = scratch()
    folder = broken_folder(base.toy_xpt if xpt else base.toy_csv, into, *plan)
    args = ["derive", str(folder), "--study", str(TOY), "--out", str(into / "adam")]
    result = runner.invoke(app, [*args, "--format", fmt, *(["--allow-invalid"] if allow else [])])
    ok(result, f"derive {plan} allow={allow}")
    if result.exit_code != 0:
        assert not (into / "adam").exists(), "a failed run left an output folder"


@_settings("report --sdtm")
@given(plan=folder_plans(TOY_NAMES), allow=st.booleans())
def test_report_sdtm(base: Base, scratch: Callable[[], Path], plan: tuple, allow: bool) -> None:
    into = scratch()
    folder = broken_folder(base.toy_csv, into, *plan)
    args = ["report", "--study", str(TOY), "--sdtm", str(folder), "--out", str(into / "r")]
    result = runner.invoke(
        app, [*args, "--formats", "html", *(["--allow-invalid"] if allow else [])]
    )
    ok(result, f"report --sdtm {plan} allow={allow}")
    if result.exit_code != 0:
        assert not (into / "r").exists(), "a failed run left an output folder"


@_settings("report --adam")
@given(
    plan=folder_plans(["adsl", "adae", "adtte", "adex"]),
    allow=st.booleans(),
)
def test_report_adam(base: Base, scratch: Callable[[], Path], plan: tuple, allow: bool) -> None:
    into = scratch()
    source = into / "source"
    source.mkdir()
    for file in base.toy_adam.glob("*.csv"):
        shutil.copyfile(file, source / file.name)
    folder = broken_folder(source, into, *plan)
    args = ["report", "--study", str(TOY), "--adam", str(folder), "--out", str(into / "r")]
    result = runner.invoke(
        app, [*args, "--formats", "html", *(["--allow-invalid"] if allow else [])]
    )
    ok(result, f"report --adam {plan} allow={allow}")


@_settings("reproduce --sdtm")
@given(plan=folder_plans(MM024_NAMES), allow=st.booleans(), as_json=st.booleans())
def test_reproduce(
    base: Base, scratch: Callable[[], Path], plan: tuple, allow: bool, as_json: bool
) -> None:
    folder = broken_folder(base.mm024, scratch(), *plan)
    flags = [*(["--allow-invalid"] if allow else []), *(["--json"] if as_json else [])]
    result = runner.invoke(app, ["reproduce", "--sdtm", str(folder), *flags])
    ok(result, f"reproduce {plan} allow={allow}")


@_settings("db load")
@given(plan=folder_plans(MM024_NAMES), allow=st.booleans())
def test_db_load(base: Base, scratch: Callable[[], Path], plan: tuple, allow: bool) -> None:
    into = scratch()
    folder = broken_folder(base.mm024, into, *plan)
    db = into / "study.db"
    shutil.copyfile(base.database, db)
    args = ["db", "load", str(folder), "--db", f"sqlite:///{db}", "--log", str(into / "logs")]
    result = runner.invoke(app, [*args, *(["--allow-invalid"] if allow else [])])
    ok(result, f"db load {plan} allow={allow}")
    if result.exit_code == 1 and isinstance(result.exception, SystemExit):
        # The gate stopped the load: the database is as it was, and no log was written.
        assert db.read_bytes() == base.database.read_bytes()
        assert not (into / "logs").exists()


# --------------------------------------------------------------------------- found


@dataclass(frozen=True)
class Found:
    """A traceback the cases above found, and what the verb says instead now."""

    what: str
    args: tuple[str, ...]  # {data} is the broken folder, {out} a new folder
    source: str  # "toy", "toy adam" or "mm024"
    plan: dict[str, list[tuple[object, ...]]]
    drop: frozenset[str]
    exit_code: int
    says: str


FOUND = [
    Found(
        "adex.py: ColumnNotFoundError STUDYID (DM's header not UTF-8, --allow-invalid)",
        (
            "report",
            "--study",
            str(TOY),
            "--sdtm",
            "{data}",
            "--out",
            "{out}",
            "--formats",
            "html",
            "--allow-invalid",
        ),
        "toy",
        {"dm": [("cp1252",)]},
        frozenset(),
        0,
        "added: STUDYID missing on every record",
    ),
    Found(
        "adae.py: ColumnNotFoundError TRTSDT (no EX dataset)",
        ("derive", "{data}", "--out", "{out}"),
        "mm024",
        {},
        frozenset({"ex"}),
        0,
        "ADAE not derived: no first dose (ADSL.TRTSDT)",
    ),
    Found(
        "adae.py: ColumnNotFoundError TRTSDT (no EX dataset, a study whose endpoint needs it)",
        ("derive", "{data}", "--study", str(TOY), "--out", "{out}"),
        "toy",
        {},
        frozenset({"ex"}),
        1,
        "endpoints.TTDEATH.origin.date: ADSL has no variable TRTSDT",
    ),
    Found(
        "adsl.py: ColumnNotFoundError DSCAT (DS without DSCAT)",
        ("derive", "{data}", "--study", str(TOY), "--out", "{out}"),
        "toy",
        {"ds": [("drop", 6)]},
        frozenset(),
        1,
        "error DS.DSCAT derive-needs-variable",
    ),
    Found(
        "adsl.py: ColumnNotFoundError EXSTDTC (EX without EXSTDTC, --allow-invalid)",
        ("derive", "{data}", "--study", str(TOY), "--out", "{out}", "--allow-invalid"),
        "toy",
        {"ex": [("drop", 9)]},
        frozenset(),
        0,
        "added: EXSTDTC missing on every record",
    ),
    Found(
        "frame.py: InvalidOperationError (eap km --censor on a text variable)",
        ("km", "{data}/adtte.csv", "--time", "AVAL", "--censor", "USUBJID"),
        "toy adam",
        {},
        frozenset(),
        1,
        "the status variable USUBJID is not numeric: 7 rows not a number",
    ),
    Found(
        "encoding.py: UnicodeError (eap info --encoding punycode)",
        ("info", "{data}/ae.csv", "--encoding", "punycode"),
        "toy",
        {},
        frozenset(),
        1,
        "ae.csv: the text is not punycode",
    ),
    Found(
        "adtte.py: IndexError (DM without records, --allow-invalid)",
        ("derive", "{data}", "--study", str(TOY), "--out", "{out}", "--allow-invalid"),
        "toy",
        {"dm": [("header-only",)], "ae": [("drop", 0), ("drop", 0), ("drop", 0)]},
        frozenset(),
        0,
        "ADTTE: 0 rows",
    ),
    Found(
        "reproduce.py: ZeroDivisionError (EX with no rows)",
        ("reproduce", "--sdtm", "{data}", "--allow-invalid"),
        "mm024",
        {"ex": [("header-only",)]},
        frozenset(),
        1,
        "255 figures compared",
    ),
    Found(
        "transfer.py: ValueError int(NaN) (DM.AGE NaN)",
        ("db", "load", "{data}", "--db", "sqlite:///{out}.db"),
        "mm024",
        {"dm": [("column", 13, "NaN")]},
        frozenset(),
        1,
        "error DM.AGE rows 1, 2, 3 not-a-number",
    ),
    Found(
        "transfer.py: KeyError None (AE without USUBJID, --allow-invalid)",
        ("db", "load", "{data}", "--db", "sqlite:///{out}.db", "--allow-invalid"),
        "mm024",
        {"ae": [("drop", 2)]},
        frozenset(),
        1,
        # The first three subjects of seed 2014 have 21 AE records.
        "AE.USUBJID (rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 11 more): records without a subject",
    ),
    Found(
        "transfer.py: ValueError fromisoformat (DM.RFICDTC 2014-02-30, --allow-invalid)",
        ("db", "load", "{data}", "--db", "sqlite:///{out}.db", "--allow-invalid"),
        "mm024",
        {"dm": [("column", 8, "2014-02-30")]},
        frozenset(),
        1,
        "has no rollover assessment date",
    ),
]


@pytest.mark.parametrize("found", FOUND, ids=[f.what.split(":")[0] for f in FOUND])
def test_tracebacks_found_stay_fixed(base: Base, scratch: Callable[[], Path], found: Found) -> None:
    into = scratch()
    source = {"toy": base.toy_csv, "toy adam": base.toy_adam, "mm024": base.mm024}[found.source]
    folder = broken_folder(source, into, found.plan, set(found.drop))
    args = [a.format(data=folder, out=into / "out") for a in found.args]
    result = runner.invoke(app, args)
    ok(result, found.what)
    assert result.exit_code == found.exit_code, result.output[-3000:]
    said = " ".join(result.output.split()) + " " + str(result.exception or "")
    log = into / "out" / "run_log.json"
    if log.exists():
        said += " " + log.read_text(encoding="utf-8")
    assert found.says in said, said[-3000:]


def test_an_xpt_format_name_that_is_not_text_is_named(base: Base, tmp_path: Path) -> None:
    # A blank format name with its first byte 0xDF (a case found by flipping a byte):
    # ReadStat decodes it as UTF-8 whatever the encoding, and raised UnicodeDecodeError
    # from inside pyreadstat.
    raw = (base.toy_xpt / "ae.xpt").read_bytes()
    at = raw.index(b"AETERM  ") + 8 + 40  # the format name follows the name and the label
    assert raw[at : at + 8] == b" " * 8
    (tmp_path / "ae.xpt").write_bytes(raw[:at] + b"\xdf" + raw[at + 1 :])
    result = runner.invoke(app, ["info", str(tmp_path / "ae.xpt")])
    ok(result, "info")
    assert isinstance(result.exception, EapError)
    assert "a variable's name, label or format is not text" in str(result.exception)
    assert "found byte 0xdf" in str(result.exception)
    checked = runner.invoke(app, ["validate", str(tmp_path)])
    assert checked.exit_code == 1 and "unreadable-file" in checked.output
