"""The ``eap`` command. One thin function per verb; the work happens in the library."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from eap import __version__
from eap.errors import EapError

if TYPE_CHECKING:
    from eap.datasets.lazy import ParquetSource
    from eap.datasets.model import Dataset
    from eap.datasets.validate import Finding
    from eap.derive import Derived
    from eap.gate import Checked
    from eap.plans.study import Study, StudyData

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


EncodingOption = Annotated[
    str | None,
    typer.Option(
        help="Text encoding of XPT and CSV files (utf-8, windows-1252, latin-1, ...); "
        "default: detected (UTF-8, else Windows-1252, else Latin-1).",
    ),
]


@app.command()
def validate(
    folder: Annotated[
        Path, typer.Argument(help="Folder of dataset files (.xpt .sas7bdat .parquet .json .csv).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    max_rows: Annotated[int, typer.Option(help="Row numbers shown per finding.")] = 10,
    encoding: EncodingOption = None,
) -> None:
    """Check a folder of SDTM/ADaM datasets against eap's specifications.

    Reports unknown datasets, missing variables, wrong types, duplicate keys,
    values outside codelists, malformed ISO 8601 dates, subjects missing from
    DM/ADSL and end dates before start dates; for SDTM, dates of one subject that
    contradict each other across domains (timeline warnings, docs/datasets.md).
    Exit status 1 when there is an error.
    """
    from eap.datasets.validate import validate_folder
    from eap.report_console import print_findings, progress_bar

    files = _dataset_files(folder)
    with progress_bar(console, as_json) as bar:
        task = bar.add_task("validating", total=len(files))
        report = validate_folder(
            folder,
            progress=lambda p: bar.update(task, advance=1, description=p.name),
            encoding=encoding,
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
    encoding: EncodingOption = None,
) -> None:
    """Convert datasets between SAS XPT, SAS7BDAT (read only), Parquet, Dataset-JSON and CSV.

    Text is written as UTF-8, whatever the encoding it was read in.
    """
    from eap.datasets.encoding import normalize_encoding
    from eap.datasets.io import WRITABLE, read_dataset, write_dataset
    from eap.report_console import progress_bar

    encoding = normalize_encoding(encoding)
    if to not in WRITABLE:
        raise EapError(
            "unknown target format", variable="--to", expected=", ".join(WRITABLE), found=to
        )
    files = [f for src in sources for f in (_dataset_files(src) if src.is_dir() else [src])]
    with progress_bar(console, False) as bar:
        task = bar.add_task("converting", total=len(files))
        for path in files:
            bar.update(task, description=path.name)
            ds = read_dataset(path, encoding=encoding)
            target = write_dataset(ds, out / f"{path.stem.lower()}.{to}", format=to)  # type: ignore[arg-type]
            bar.update(task, advance=1)
            console.print(f"{path} -> {target} ({ds.n_rows} rows)")


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="A dataset file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
    encoding: EncodingOption = None,
) -> None:
    """Show a dataset's name, label, size, encoding and variables (label, type, length, format)."""
    from eap.datasets.io import read_dataset
    from eap.report_console import print_dataset_info

    ds = read_dataset(file, encoding=encoding)
    if as_json:
        meta = {
            "name": ds.name,
            "label": ds.label,
            "rows": ds.n_rows,
            "encoding": ds.extra.get("encoding"),
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


AllowInvalid = Annotated[
    bool,
    typer.Option(
        "--allow-invalid",
        help="Go on when the input has errors (malformed dates, missing variables, wrong "
        "types, duplicate keys): every affected record is listed in the run log (and the "
        "report's Data issues section). Without it an error stops the run, nothing written.",
    ),
]


ENGINES = ("polars", "spark")
EngineOption = Annotated[
    str,
    typer.Option(
        help="Where the derivations and the analyses' reading of records run: polars (this "
        "machine) or spark (a Spark session; pip install 'eap\\[spark]' and Java 17+)."
    ),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        help="Spark master URL for --engine spark, e.g. local[4] or spark://host:7077 "
        "(default: the Spark configuration's, else local[*])."
    ),
]

SparkConfOption = Annotated[
    list[str] | None,
    typer.Option(
        help="A Spark setting for --engine spark, KEY=VALUE as spark-submit --conf takes it, "
        "e.g. spark.driver.memory=16g (repeatable)."
    ),
]


def _engine_name(spark: Any) -> str:
    """The engine as the run log records it: polars, or spark and its master."""
    return "polars" if spark is None else f"spark ({spark.sparkContext.master})"


@dataclass(frozen=True)
class _Input:
    """The datasets a run starts from, read leniently, and what they are."""

    datasets: Mapping[str, Dataset]
    is_sdtm: bool
    label: str
    folder: Path | None = None
    origins: dict[str, Path] = field(default_factory=dict)
    unreadable: tuple[Finding, ...] = ()


def _read_input(folder: Path, is_sdtm: bool, label: str, *, lazy: bool = False) -> _Input:
    """Every readable dataset of ``folder``; a file that cannot be read is a finding.
    ``lazy``: Parquet files are read when used, not held (eap.datasets.lazy)."""
    from eap.datasets.validate import open_datasets, read_datasets

    if lazy:
        opened, origins, unreadable = open_datasets(folder)
        return _Input(opened, is_sdtm, label, folder, origins, tuple(unreadable))
    datasets, origins, unreadable = read_datasets(folder)
    return _Input(datasets, is_sdtm, label, folder, origins, tuple(unreadable))


def _gate(
    given: _Input, allow_invalid: bool, *, as_json: bool = False, study: Study | None = None
) -> Checked:
    """The validation gate (eap.gate): on an error not allowed, the findings printed as
    ``eap validate`` prints them, and exit status 1 before anything is written."""
    from eap.gate import ALWAYS_STOPS, check_input
    from eap.report_console import print_findings

    checked = check_input(
        given.datasets,
        sdtm=given.is_sdtm,
        allow_invalid=allow_invalid,
        origins=given.origins,
        unreadable=given.unreadable,
        study=study,
    )
    if not checked.stops:
        return checked
    if as_json:
        typer.echo(json.dumps(checked.report.to_json(), indent=2))
        raise typer.Exit(1)
    print_findings(console, checked.report)
    errors = len(checked.report.errors)
    if allow_invalid:
        why = "a file that cannot be read stops the run even with --allow-invalid"
    else:
        why = "give --allow-invalid to go on with them (every affected record is listed)"
    unread = [f for f in checked.report.errors if f.check in ALWAYS_STOPS]
    console.print(
        f"[red]stopped:[/] {given.label} has {errors} error{'' if errors == 1 else 's'}"
        f"{f' ({len(unread)} unreadable)' if unread else ''}; nothing was written; {why}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _say_issues(checked: Checked, where: str) -> None:
    """One line on the findings a run went on with, and where they are listed."""
    errors, warnings = len(checked.report.errors), len(checked.report.warnings)
    if not errors and not warnings:
        return
    records = sum(i.records for i in checked.issues if i.finding.severity == "error")
    parts = []
    if errors:
        parts.append(
            f"{errors} error{'' if errors == 1 else 's'} ({records} "
            f"record{'' if records == 1 else 's'}), gone on with (--allow-invalid)"
        )
    if warnings:
        parts.append(f"{warnings} warning{'' if warnings == 1 else 's'}")
    console.print(
        f"[{'red' if errors else 'yellow'}]data issues:[/] {', '.join(parts)}; listed in {where}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def derive(
    sdtm_dir: Annotated[
        Path | None, typer.Argument(help="Folder of SDTM datasets (any format eap reads).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder for the ADaM datasets.")] = None,
    study: Annotated[
        str,
        typer.Option(help="Study definition: mm024, cdisc-pilot, or a folder with study.toml."),
    ] = "mm024",
    cutoff: Annotated[
        str | None,
        typer.Option(
            help="Data cutoff date, ISO 8601 (default: the study's; a study without one "
            "uses the latest date in the data)."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="xpt, parquet, json or csv.")] = "xpt",
    explain: Annotated[
        bool, typer.Option("--explain", help="Print the study's derivation rules and stop.")
    ] = False,
    allow_invalid: AllowInvalid = False,
    engine: EngineOption = "polars",
    spark_master: SparkMasterOption = None,
    spark_conf: SparkConfOption = None,
) -> None:
    """Derive ADSL, ADAE, ADEX, ADTTE and ADRS from SDTM by a study's rules, as of the cutoff.

    The SDTM are validated first (as by eap validate, plus the derivations' own input
    checks): an error stops the run with exit status 1 and nothing written, unless
    --allow-invalid. The output folder gets run_log.json (inputs with SHA-256, findings
    with every affected record, imputations, what was not derived) and define.xml
    (Define-XML 2.1, checked against the CDISC schema; see eap define).
    """
    from eap.datasets.atomic import staged_folder
    from eap.datasets.io import WRITABLE, write_dataset
    from eap.datasets.lazy import LazyDatasets, ParquetSource
    from eap.datasets.model import Dataset
    from eap.derive import BATCH_SUBJECTS, derive_all
    from eap.plans import load_study
    from eap.report_console import print_findings, progress_bar
    from eap.runlog import imputed, input_files, write_run_log

    definition = load_study(study)
    if explain:
        from eap.derive.docs import explain as explain_study

        typer.echo(explain_study(definition))
        return
    if sdtm_dir is None:
        raise EapError("a folder of SDTM datasets is needed", variable="SDTM_DIR")
    if out is None:
        raise EapError("an output folder is needed", variable="--out", expected="a folder path")
    if fmt not in WRITABLE:
        raise EapError(
            "unknown format", variable="--format", expected=", ".join(WRITABLE), found=fmt
        )
    cut = _cutoff(cutoff) if cutoff is not None else None
    spark = _spark_session(engine, spark_master, spark_conf)
    given = _read_input(sdtm_dir, True, f"SDTM from {sdtm_dir}", lazy=True)
    checked = _gate(given, allow_invalid, study=definition)
    written: dict[str, Path] = {}
    rows: dict[str, int] = {}
    with progress_bar(console, False) as bar, staged_folder(out) as stage:
        task = bar.add_task("deriving", total=None)
        sources: dict[str, ParquetSource] = {}

        def store(parts: Sequence[Dataset] | Iterator[Dataset]) -> bool:
            """Each dataset written as soon as it is derived (a large Parquet one part
            by part); a Parquet one let go and read back from its file when used
            (define.xml, the run log)."""
            if fmt != "parquet":
                (ds,) = parts  # not derived in parts: no batch_subjects
                file = f"{ds.name.lower()}.{fmt}"
                write_dataset(ds, stage / file, format=fmt)  # type: ignore[arg-type]
                written[ds.name], rows[ds.name] = out / file, ds.n_rows
                return False
            ds, count, path = _write_parts(parts, stage)
            written[ds.name], rows[ds.name] = out / path.name, count
            sources[ds.name] = ParquetSource.of(path, ds)
            return True

        with _on_engine(spark):
            result = derive_all(
                checked.datasets,
                cut,
                progress=lambda what: bar.update(task, description=what),
                study=definition,
                store=store,
                batch_subjects=BATCH_SUBJECTS if fmt == "parquet" else None,
                spark=spark,
            )
        derived = LazyDatasets(result.datasets, sources, list(rows))
        if "ADTTE" in derived:
            from eap.derive.adtte import censoring_summary

            summary = censoring_summary(derived["ADTTE"].frame)
            censoring = Dataset.from_frame("ADTTECNS", summary)
            write_dataset(censoring, stage / "adtte_censoring.csv", format="csv")
            written["ADTTE censoring"] = out / "adtte_censoring.csv"
        if derived:
            written["define.xml"] = _write_define(
                stage,
                out,
                derived,
                {n: p.name for n, p in written.items()},
                definition,
                fmt,
            )
        written["run log"] = out / "run_log.json"
        write_run_log(
            stage,
            inputs=input_files([sdtm_dir]),
            findings=checked.issues,
            imputations=imputed(derived),
            skipped=result.skipped,
            outputs=written,
            extra={
                "study": definition.id,
                "cutoff": result.cutoff,
                "cutoff_source": result.cutoff_source,
                "allow_invalid": allow_invalid,
                "engine": _engine_name(spark),
            },
        )
    if result.cutoff is not None:
        where = "--cutoff" if result.cutoff_source == "given" else result.cutoff_source
        console.print(f"Study {definition.id}; data cutoff {result.cutoff} ({where})")
    for name, count in rows.items():
        console.print(f"{name}: {count} rows -> {written[name]}")
    for name, why in result.skipped.items():
        console.print(f"[yellow]{name} not derived:[/] {escape(why)}", highlight=False)
    if checked.report.findings:
        print_findings(console, checked.report)
        _say_issues(checked, str(written["run log"]))
    if "ADTTE censoring" in written:
        console.print(f"ADTTE events and censoring reasons -> {written['ADTTE censoring']}")
    if "define.xml" in written:
        console.print(f"define.xml 2.1 (valid against the CDISC schema) -> {written['define.xml']}")
    console.print(f"run log -> {written['run log']}")


def _spark_session(engine: str, master: str | None, conf: list[str] | None) -> Any:
    """The Spark session of ``--engine spark`` (None for polars)."""
    if engine not in ENGINES:
        raise EapError(
            "unknown engine", variable="--engine", expected=", ".join(ENGINES), found=engine
        )
    if engine != "spark":
        for option, given in (("--spark-master", master), ("--spark-conf", conf)):
            if given:
                raise EapError(
                    f"{option} is for the Spark engine",
                    variable=option,
                    expected="--engine spark with it",
                    found=given if isinstance(given, str) else " ".join(given),
                )
        return None
    settings: dict[str, str] = {}
    for text in conf or []:
        key, equals, value = text.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise EapError(
                "a Spark setting is KEY=VALUE",
                variable="--spark-conf",
                expected="e.g. spark.driver.memory=16g",
                found=text,
            )
        settings[key.strip()] = value.strip()
    from eap.engine.spark import session

    return session(master, conf=settings)


def _on_engine(spark: Any) -> contextlib.AbstractContextManager[None]:
    """Spark's failures said as an EapError while it works (nothing for Polars)."""
    if spark is None:
        return contextlib.nullcontext()
    from eap.engine.spark import failures

    return failures()


def _write_define(
    folder: Path,
    final: Path,
    datasets: Mapping[str, Dataset],
    files: dict[str, str],
    study: Study,
    fmt: str,
) -> Path:
    """define.xml of ``datasets`` in ``folder`` (a staging folder that becomes ``final``)."""
    from eap.datasets.define import write_define
    from eap.derive.docs import variable_rules

    written = write_define(
        folder,
        datasets,
        files,
        study_id=study.id,
        study_title=study.title,
        methods=variable_rules(study),
        numeric_dates=fmt == "xpt",
    )
    return final / written.name


@app.command()
def define(
    adam: Annotated[
        Path | None,
        typer.Option(help="Folder of ADaM datasets (as eap derive writes them): write define.xml."),
    ] = None,
    study: Annotated[
        str,
        typer.Option(help="Study definition whose derivation rules become the MethodDefs."),
    ] = "mm024",
    out: Annotated[
        Path | None, typer.Option(help="Where to write define.xml (default: ADAM/define.xml).")
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(help="A define.xml to validate against the Define-XML 2.1 schema."),
    ] = None,
) -> None:
    """Write define.xml 2.1 for a folder of ADaM datasets, or check one against the schema.

    The schema (Define-XML 2.1 with ODM 1.3.2) ships with eap: no network is needed.
    A define.xml that breaks it is an error (exit status 2) listing each violation by
    line. CreationDateTime is SOURCE_DATE_EPOCH when set, so reruns are identical.
    """
    from eap.datasets.define import DEFINE_FILE, check_define, write_define
    from eap.datasets.validate import read_datasets
    from eap.derive.docs import variable_rules
    from eap.plans import load_study

    if (adam is None) == (check is None):
        raise EapError("give --adam DIR to write a define.xml, or --check FILE to validate one")
    if check is not None:
        check_define(check)
        console.print(f"{check}: valid define.xml 2.1 (Define-XML 2.1 and ODM 1.3.2 schemas)")
        return
    assert adam is not None
    datasets, origins, unreadable = read_datasets(adam)
    if unreadable:
        raise EapError(
            "a dataset cannot be read", file=unreadable[0].file, found=unreadable[0].message
        )
    adam_sets = {n: d for n, d in datasets.items() if _standard(n) == "ADaM"}
    if not adam_sets:
        raise EapError(
            "no ADaM dataset eap knows", file=adam, expected="adsl, adae, adex, adtte, adrs files"
        )
    target = out or adam / DEFINE_FILE
    files = {n: _relative(origins[n], target.parent) for n in adam_sets}
    formats = {origins[n].suffix.lower() for n in adam_sets}
    definition = load_study(study)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = write_define(
        target.parent,
        adam_sets,
        files,
        study_id=definition.id,
        study_title=definition.title,
        methods=variable_rules(definition),
        numeric_dates=formats == {".xpt"},
        file_name=target.name,
    )
    console.print(f"define.xml 2.1 of {', '.join(adam_sets)} -> {written}")


def _standard(name: str) -> str | None:
    """SDTM or ADaM, for a dataset eap has a specification of."""
    from eap.datasets import specs

    spec = specs.get(name)
    return spec.standard if spec else None


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` with forward slashes (define.xml's def:leaf href)."""
    import os

    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


DbSource = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Study database URL (sqlite:///file.db or postgresql://...): exported as SDTM first.",
    ),
]


def _study_input(
    adam: Path | None,
    sdtm: Path | None,
    db: str | None,
    seed: int,
    study: Study | None = None,
) -> _Input:
    """The datasets a report or reproduction starts from, whether they are SDTM, a label,
    and the folder they were read from (files that cannot be read are findings).

    Without --adam, --sdtm or --db: the study's own data (``[data]`` in study.toml),
    MM-024's being its virtual cohort.
    """
    from sqlalchemy.engine import make_url

    from eap.plans.study import DEFAULT_STUDY, load_study
    from eap.simulate import simulate as run
    from eap.store.db import normalize_url
    from eap.store.export import sdtm_from_url

    def study_name(own: StudyData) -> str:
        return f"the study's own data ({own.folder})"

    given = [n for n, v in (("--adam", adam), ("--sdtm", sdtm), ("--db", db)) if v is not None]
    if len(given) > 1:
        raise EapError("give one source of data", variable="/".join(given), expected="one of them")
    if adam is not None:
        return _read_input(adam, False, f"ADaM from {adam}", lazy=True)
    if sdtm is not None:
        return _read_input(sdtm, True, f"SDTM from {sdtm}", lazy=True)
    if db is not None:
        shown = make_url(normalize_url(db)).render_as_string(hide_password=True)
        return _Input(sdtm_from_url(db), True, f"study database {shown}")
    own = load_study(DEFAULT_STUDY).data if study is None else study.data
    if own is None or own.kind == "virtual-cohort":
        if own is None:
            assert study is not None
            raise EapError(
                f"study {study.id} has no data of its own",
                file=study.folder / "study.toml",
                variable="--adam/--sdtm/--db",
                expected="a folder of ADaM or SDTM datasets, or a [data] section",
            )
        return _Input(run(seed, 1), True, f"virtual MM-024 cohort, seed {seed}")
    assert own.folder is not None
    return _read_input(own.folder, own.kind == "sdtm", f"{own.kind.upper()} of {study_name(own)}")


def _cutoff(cutoff: str) -> dt.date:
    try:
        return dt.date.fromisoformat(cutoff)
    except ValueError as exc:
        raise EapError(
            "not an ISO 8601 date", variable="--cutoff", expected="YYYY-MM-DD", found=cutoff
        ) from exc


def _thresholds(entries: list[str], plan: object) -> dict[str, float]:
    """``--threshold AET04=5``: an incidence output's row threshold, in percent."""
    from eap.plans.plan import Plan

    assert isinstance(plan, Plan)
    out: dict[str, float] = {}
    for entry in entries:
        output_id, _, value = entry.partition("=")
        try:
            percent = float(value)
        except ValueError:
            percent = -1.0
        if not 0.0 <= percent <= 100.0:
            raise EapError(
                "not a threshold",
                variable="--threshold",
                expected="ID=PERCENT (0-100)",
                found=entry,
            )
        if plan.output(output_id).kind != "incidence":
            raise EapError(
                "a threshold applies to incidence outputs",
                variable="--threshold",
                expected="the id of an incidence output",
                found=output_id,
            )
        out[output_id] = percent
    return out


StudyOption = Annotated[
    str | None,
    typer.Option(
        "--study",
        help="Built-in study (mm024, cdisc-pilot) or a folder with study.toml and plan.toml.",
    ),
]
PlanOption = Annotated[
    Path | None,
    typer.Option("--plan", help="An analysis plan file (plan.toml); default: the study's own."),
]


def _plan(study: str | None, plan: Path | None) -> object:
    from eap.plans.plan import load_plan
    from eap.plans.study import load_study

    if plan is not None:
        return load_plan(plan, load_study(study) if study else None)
    return load_plan(study or "mm024")


def _derive_to_parquet(
    sdtm: Mapping[str, Dataset],
    cut: dt.date | None,
    study: Study,
    folder: Path,
    progress: Callable[[str], None],
    spark: Any = None,
) -> tuple[Derived, dict[str, ParquetSource]]:
    """derive_all with each ADaM dataset written to ``folder`` as Parquet as soon as it
    is derived and let go; the result holds what was not written, the sources the rest."""
    from eap.datasets.lazy import ParquetSource
    from eap.derive import BATCH_SUBJECTS, derive_all

    sources: dict[str, ParquetSource] = {}

    def store(parts: Sequence[Dataset] | Iterator[Dataset]) -> bool:
        ds, _, path = _write_parts(parts, folder)
        sources[ds.name] = ParquetSource.of(path, ds)
        return True

    result = derive_all(
        sdtm,
        cut,
        progress=progress,
        study=study,
        store=store,
        batch_subjects=BATCH_SUBJECTS,
        spark=spark,
    )
    return result, sources


def _write_parts(
    parts: Sequence[Dataset] | Iterator[Dataset], folder: Path
) -> tuple[Dataset, int, Path]:
    """A derived dataset written to ``folder`` as Parquet, whole or part by part
    (eap.datasets.io.write_dataset_parts): its header, its record count and its file."""
    from eap.datasets.io import write_dataset, write_dataset_parts

    if isinstance(parts, Sequence):
        (ds,) = parts
        path = folder / f"{ds.name.lower()}.parquet"
        write_dataset(ds, path, format="parquet")
        return ds, ds.n_rows, path
    first = next(parts)
    path = folder / f"{first.name.lower()}.parquet"
    rest = itertools.chain([first], parts)
    del first  # each part let go once written
    header, count = write_dataset_parts(rest, path)
    return header, count, path


@app.command()
def report(
    out: Annotated[Path, typer.Option(help="Output folder for the report and its ARD.")],
    adam: Annotated[Path | None, typer.Option(help="Folder of ADaM datasets.")] = None,
    sdtm: Annotated[
        Path | None, typer.Option(help="Folder of SDTM datasets (derived first).")
    ] = None,
    db: DbSource = None,
    study: StudyOption = None,
    plan: PlanOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the built-in virtual cohort.")] = 2014,
    cutoff: Annotated[
        str | None, typer.Option(help="Data cutoff date, ISO 8601 (default: the study's).")
    ] = None,
    formats: Annotated[str, typer.Option(help="Comma-separated: html, rtf, pdf.")] = "html,rtf,pdf",
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            help="Row threshold of an incidence output in percent, e.g. AET04=5 (repeatable)."
        ),
    ] = None,
    allow_invalid: AllowInvalid = False,
    paper: Annotated[
        str, typer.Option(help="Paper of the RTF and PDF pages: letter or a4.")
    ] = "letter",
    engine: EngineOption = "polars",
    spark_master: SparkMasterOption = None,
    spark_conf: SparkConfOption = None,
) -> None:
    """Write a study's report (HTML, RTF, PDF; figures) and its analysis results data.

    The outputs are the study's analysis plan (or --plan FILE). Without --adam, --sdtm
    or --db, the study's own data: MM-024's virtual cohort (seed 2014), the CDISC
    pilot's published ADaM. The data are validated first: an error stops the run with
    exit status 1 and nothing written, unless --allow-invalid (then the report's Data
    issues section and run_log.json list every affected record). Every RTF and PDF page
    has a header (study, output, population, cutoff, page x of y) and a footer (this
    command, eap's version, the run date: SOURCE_DATE_EPOCH when set, for identical files).
    With --engine spark the derivations, and the analyses' reading and reducing of
    records, run on a Spark session; the statistics are computed here from what it
    gives, so that the report is the Polars engine's, value for value.
    """
    from eap.ard.run import run_plan
    from eap.datasets.atomic import staged_folder
    from eap.datasets.lazy import LazyDatasets
    from eap.plans.plan import Plan
    from eap.report import FORMATS, write_report
    from eap.report.furniture import furniture_for, paper_size, run_date
    from eap.report_console import progress_bar
    from eap.runlog import command_line, imputed, input_files, write_run_log

    chosen = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    if not chosen or any(f not in FORMATS for f in chosen):
        raise EapError(
            "unknown report format",
            variable="--formats",
            expected=", ".join(FORMATS),
            found=formats,
        )
    paper = paper.strip().lower()
    paper_size(paper)
    run_at = run_date()
    the_plan = _plan(study, plan)
    assert isinstance(the_plan, Plan)
    cuts = _thresholds(threshold or [], the_plan)
    cut = _cutoff(cutoff) if cutoff else the_plan.study.cutoff
    spark = _spark_session(engine, spark_master, spark_conf)
    with (
        progress_bar(console, False) as bar,
        contextlib.ExitStack() as stack,
        _on_engine(spark),
    ):
        task = bar.add_task("reading the data", total=None)

        def say(what: str) -> None:
            bar.update(task, description=what)

        given = _study_input(adam, sdtm, db, seed, the_plan.study)
        checked = _gate(given, allow_invalid, study=the_plan.study)
        datasets: Mapping[str, Dataset] = checked.datasets
        if given.is_sdtm:
            # Each ADaM dataset goes to a scratch Parquet file as soon as it is derived
            # and is read back when an output uses it: the run never holds them all.
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="eap-adam-"))
            derived, adam_files = _derive_to_parquet(
                datasets, cut, the_plan.study, Path(scratch), say, spark
            )
            cut = derived.cutoff
            # SDTM domains an analysis reads directly (CM) stay beside the ADaM.
            cm = {k: checked.datasets[k] for k in ("CM",) if k in checked.datasets}
            datasets = LazyDatasets({**cm, **derived.datasets}, adam_files)
        tables = None
        if spark is not None:
            from eap.engine.spark import spark_tables

            tables = spark_tables(spark, datasets)
        result = run_plan(the_plan, datasets, progress=say, tables=tables)
        shown_cut = f"Data cutoff {cut}" if cut else "No data cutoff"
        with staged_folder(out) as stage:
            staged = write_report(
                result.ard,
                stage,
                the_plan,
                subtitle=f"{the_plan.study.id}. {shown_cut}; {given.label}.",
                formats=chosen,
                progress=say,
                thresholds=cuts,
                skipped=result.skipped,
                metadata=result.metadata,
                data_issues=checked.issues,
                furniture=furniture_for(
                    the_plan,
                    cutoff=str(cut) if cut else "none",
                    program=command_line(),
                    run_at=run_at,
                    paper=paper,
                ),
            )
            paths = {kind: out / path.relative_to(stage) for kind, path in staged.items()}
            paths["run log"] = out / "run_log.json"
            write_run_log(
                stage,
                inputs=input_files([given.folder]) if given.folder is not None else given.label,
                findings=checked.issues,
                imputations=imputed(datasets),
                skipped=result.skipped,
                outputs=paths,
                run_at=run_at,
                extra={
                    "study": the_plan.study.id,
                    "plan": str(the_plan.file),
                    "cutoff": cut,
                    "allow_invalid": allow_invalid,
                    "engine": _engine_name(spark),
                },
            )
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
    for output_id, reason in result.skipped.items():
        console.print(f"[yellow]{output_id} not produced:[/] {escape(reason)}", highlight=False)
    _say_issues(
        checked, f"{paths.get('html', paths.get('pdf', out))} (Data issues) and run_log.json"
    )


@app.command()
def reproduce(
    adam: Annotated[Path | None, typer.Option(help="Folder of ADaM datasets to compare.")] = None,
    sdtm: Annotated[
        Path | None, typer.Option(help="Folder of SDTM datasets (derived first).")
    ] = None,
    db: DbSource = None,
    seed: Annotated[int, typer.Option(help="Seed of the built-in virtual cohort.")] = 2014,
    cutoff: Annotated[str, typer.Option(help="Data cutoff date, ISO 8601.")] = "2014-11-05",
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparisons as JSON.")] = False,
    allow_invalid: AllowInvalid = False,
) -> None:
    """Every published MM-024 number beside eap's, with its tolerance; exit 1 on any failure.

    Without --adam, --sdtm or --db, the built-in virtual cohort (seed 2014) is used.
    Counts and percentages must match exactly; medians within 0.5 month; CI
    bounds within 1.5 months. The ARD is the built-in MM-024 plan's. The data are
    validated first: an error stops with exit status 1, unless --allow-invalid.
    """
    from eap.report.reproduce import compare, mm024_ard, reproduce_sdtm
    from eap.report_console import comparison_table, print_findings

    cut = _cutoff(cutoff)
    given = _study_input(adam, sdtm, db, seed)
    checked = _gate(given, allow_invalid, as_json=as_json)
    datasets = checked.datasets
    results = reproduce_sdtm(datasets, cut) if given.is_sdtm else compare(mm024_ard(datasets))
    failed = [r for r in results if not r.ok]
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in results], indent=2, default=str))
    else:
        console.print(comparison_table(results, "MM-024: published vs eap"))
        console.print(
            f"{len(results)} figures compared: {len(results) - len(failed)} ok, "
            f"{len(failed)} failed"
        )
        if failed:
            console.print(
                "A cohort of `eap simulate` (the protocol model) matches the publication "
                "in distribution, not figure by figure: see `eap simulate coverage`; "
                "`eap simulate --model exact` writes a cohort that reproduces every figure."
            )
        if checked.report.findings:
            print_findings(console, checked.report)
            _say_issues(checked, "the findings above")
    raise typer.Exit(1 if failed else 0)


simulate_app = typer.Typer(
    help=(
        "Generate the virtual MM-024 cohort as SDTM: MM-021 patients simulated through the "
        "protocol (the publication holding in distribution), or every published count placed "
        "(--model exact); fit and check the model (calibrate, coverage); plan a similar "
        "program (trials)."
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(simulate_app, name="simulate")


@simulate_app.callback(invoke_without_command=True)
def simulate(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="Output folder for the SDTM datasets.")] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same bytes.")
    ] = 2014,
    scale: Annotated[
        int,
        typer.Option(help="K: 199 x K MM-021 patients (protocol), or K x the 80 (exact)."),
    ] = 1,
    fmt: Annotated[str, typer.Option("--format", help="xpt, parquet, json or csv.")] = "xpt",
    model: Annotated[
        str,
        typer.Option(
            help="protocol: 199 x K MM-021 patients simulated through the protocol's rules, "
            "the EAP's patients written, the publication holding in distribution; exact: "
            "every published count placed (K x 80 patients; `eap reproduce` gives "
            "255/255). See docs/virtual-cohort.md."
        ),
    ] = "protocol",
) -> None:
    """Write the virtual MM-024 cohort's SDTM datasets (DM, DS, EX, RS, SV, LB, VS, ...)."""
    if ctx.invoked_subcommand is not None:
        return
    from eap.datasets.io import WRITABLE
    from eap.report_console import progress_bar
    from eap.simulate.stream import part_scales, write_simulation

    if out is None:
        raise EapError("an output folder is needed", variable="--out", expected="a folder path")
    if fmt not in WRITABLE:
        raise EapError(
            "unknown format", variable="--format", expected=", ".join(WRITABLE), found=fmt
        )
    parts = len(part_scales(scale))
    with progress_bar(console, False) as bar:
        who = f"{80 * scale:,} patients" if model == "exact" else f"{199 * scale:,} MM-021 patients"
        task = bar.add_task(f"simulating {who}", total=parts)
        rows = write_simulation(
            out,
            seed,
            scale,
            fmt,
            progress=lambda done, total: bar.update(task, completed=done),
            model=model,
        )
    console.print(
        f"{rows['DM']:,} patients (seed {seed}, scale {scale}, {model} model): "
        f"{', '.join(rows)} -> {out}/"
    )


@simulate_app.command("calibrate")
def simulate_calibrate(
    out: Annotated[
        Path, typer.Option(help="Where to write the parameters, targets and loss (JSON).")
    ] = Path("mm024_model.json"),
    seed: Annotated[int, typer.Option(help="Seed of the common random numbers.")] = 2014,
    replicates: Annotated[int, typer.Option(help="Cohorts per evaluation of the loss.")] = 8,
    scale: Annotated[int, typer.Option(help="Scale of each of those cohorts.")] = 2,
    generations: Annotated[int, typer.Option(help="Differential-evolution generations.")] = 10,
    rounds: Annotated[int, typer.Option(help="Compass-search rounds after it.")] = 12,
) -> None:
    """Fit the protocol model to the publication (simulated method of moments)."""
    from eap.simulate.calibrate import calibrate, write

    doc = calibrate(seed, replicates, scale, generations, rounds, progress=console.print)
    write(doc, out)
    console.print(f"loss {doc['loss']:.3f}; parameters -> {out}")
    console.print("To use them by default, copy the file to src/eap/data/mm024_model.json.")


@simulate_app.command("coverage")
def simulate_coverage(
    seeds: Annotated[int, typer.Option(help="Number of simulated cohorts (seeds 1..N).")] = 200,
    out: Annotated[
        Path | None, typer.Option(help="Write the coverage table (Markdown) to this file.")
    ] = None,
) -> None:
    """Is each published number within the central 95% of the protocol model's cohorts?"""
    from eap.report_console import progress_bar
    from eap.simulate.coverage import coverage, markdown

    with progress_bar(console, False) as bar:
        task = bar.add_task("cohorts", total=seeds)
        table = coverage(range(1, seeds + 1), progress=lambda k: bar.update(task, completed=k))
    text = markdown(table, seeds)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        console.print(f"coverage table -> {out}")
    covered = table.filter(table["covered"]).height
    console.print(
        f"{covered} of {table.height} published numbers ({100 * covered / table.height:.1f}%) "
        f"lie within the central 95% of {seeds} cohorts"
    )


@simulate_app.command("trials")
def simulate_trials(
    replicates: Annotated[int, typer.Option(help="Number of replicate cohorts.")] = 1000,
    n: Annotated[int, typer.Option(help="Patients per replicate.")] = 41,
    population: Annotated[
        str, typer.Option(help="treatment_cohort or safety (where replicates are drawn from).")
    ] = "treatment_cohort",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2014,
    plot: Annotated[Path | None, typer.Option(help="Write histograms to this PNG or SVG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    model: Annotated[
        str,
        typer.Option(
            help="protocol: draw from protocol-model patients; exact: resample the "
            "exact-mode cohort's 80 courses."
        ),
    ] = "protocol",
    pool_scale: Annotated[
        int, typer.Option(help="Size of the virtual population (199 x K MM-021 patients).")
    ] = 25,
    protocol: Annotated[
        Path | None,
        typer.Option(help="What-if: another protocol file (dose-reduction ladder, follow-up)."),
    ] = None,
    params: Annotated[
        Path | None,
        typer.Option(help="What-if: model parameters (JSON, as written by 'calibrate')."),
    ] = None,
) -> None:
    """Distribution of the median PFS, its 95% CI width and P(>= 1 SPM) for cohorts of n."""
    from rich.table import Table

    from eap.protocol import load_protocol
    from eap.report_console import progress_bar
    from eap.simulate.model import load_params
    from eap.simulate.trials import draw_trials, plot_trials

    if population not in ("treatment_cohort", "safety"):
        raise EapError(
            "unknown population",
            variable="--population",
            expected="treatment_cohort, safety",
            found=population,
        )
    with progress_bar(console, as_json) as bar:
        task = bar.add_task("replicates", total=replicates)
        result = draw_trials(
            replicates,
            n,
            seed=seed,
            population=population,
            pool_scale=pool_scale,
            progress=lambda k: bar.update(task, completed=k),
            model=model,
            params=load_params(params),
            protocol=load_protocol(protocol) if protocol is not None else None,
        )
    summary = result.summary()
    if as_json:
        doc = {
            "n": n,
            "replicates": replicates,
            "population": population,
            "p_spm": result.p_spm,
            "summary": summary.to_dicts(),
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        table = Table(
            title=f"{replicates} replicate cohorts of {n} ({population.replace('_', ' ')}): "
            "median PFS and its 95% CI (months); REDUCED: share of patients with a dose "
            "reduction; FUVISITS: follow-up visits per patient"
        )
        for col in summary.columns:
            table.add_column(col)
        for row in summary.iter_rows():
            table.add_row(*[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row])
        console.print(table)
        console.print(f"P(at least one second primary malignancy) = {result.p_spm:.3f}")
    if plot is not None:
        plot_trials(result, str(plot))
        if not as_json:
            console.print(f"plot: {plot}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's outputs.")] = Path("demo-output"),
) -> None:
    """Simulate MM-024, store it in a study database, report from it and reproduce the paper."""
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


db_app = typer.Typer(help="The study database: create or upgrade its schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts of the web application.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit trail: check its hash chain and the tables against it.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")

DbUrl = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="EAP_DB",
        help="Database URL (sqlite:///file.db or postgresql://user@host/db) or a file path.",
    ),
]


@db_app.command("init")
def db_init(
    db: DbUrl = "sqlite:///eap.db",
    sites: Annotated[
        bool, typer.Option("--sites/--no-sites", help="Add the MM-024 hospitals.")
    ] = True,
    app_role: Annotated[
        str | None,
        typer.Option(
            "--app-role",
            help="PostgreSQL: create (if missing) the login role 'eap serve' connects as, "
            "with its password from EAP_APP_PASSWORD, and grant it only what serving needs.",
        ),
    ] = None,
) -> None:
    """Create or upgrade the schema (Alembic migrations) and add the MM-024 sites.

    Run it as the owner of the database. On PostgreSQL, --app-role NAME sets up the role
    the application connects as, which does not own the tables (see docs/web.md).
    """
    import os

    from sqlalchemy.engine import make_url

    from eap.store.bootstrap import init_study
    from eap.store.db import normalize_url
    from eap.store.roles import check_app_role_target, ensure_app_role

    if app_role is not None:
        check_app_role_target(db, app_role)  # before anything is written
    added = init_study(db, with_sites=sites)
    console.print(f"database ready: {db} ({added} sites added)")
    if app_role is None:
        return
    created = ensure_app_role(db, app_role, os.environ.get("EAP_APP_PASSWORD") or None)
    # The password is not echoed: PASSWORD stands for the value of EAP_APP_PASSWORD.
    serve_url = (
        make_url(normalize_url(db))
        .set(drivername="postgresql", username=app_role, password="PASSWORD")
        .render_as_string(hide_password=False)
    )
    console.print(
        f"application role {app_role} {'created' if created else 'updated'}; serve with: "
        f"eap serve --db {serve_url}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


# eap.store.transfer.DEFAULT_BATCH_SIZE, written out so that the CLI starts without
# importing the store (a test keeps the two equal).
LOAD_BATCH_SIZE = 500


@db_app.command("load")
def db_load(
    sdtm_dir: Annotated[
        Path, typer.Argument(help="Folder of SDTM datasets: the transfer to load (DM required).")
    ],
    db: DbUrl = "sqlite:///eap.db",
    transfer: Annotated[
        str | None, typer.Option(help="Name of the transfer, kept with every record.")
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the load's run log (default: the SQLite database file's "
            "folder; the current folder for a database server)."
        ),
    ] = None,
    allow_invalid: AllowInvalid = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            help="Patients per committed batch; a rerun after an interruption continues "
            "after the last committed batch.",
        ),
    ] = LOAD_BATCH_SIZE,
) -> None:
    """Register every DM subject and keep every SDTM row of a data transfer, in batches.

    The schema is created first when the database is new. The transfer is validated
    first: an error stops the load with exit status 1 and nothing stored, unless
    --allow-invalid. Patients are committed --batch-size at a time, each batch with its
    trail; run the same command again after an interruption and the load continues
    after the last committed batch (a completed load of the same data is refused).
    Each load writes a run log, <database>.load-<UTC time>.json (inputs with SHA-256,
    findings with every affected record, what was stored). See docs/web.md.
    """
    from sqlalchemy.engine import make_url

    from eap.report_console import print_findings, progress_bar
    from eap.runlog import input_files, write_run_log
    from eap.store.bootstrap import init_study
    from eap.store.db import normalize_url
    from eap.store.transfer import BatchDone, batch_line, load_sdtm

    url = make_url(normalize_url(db))
    sqlite_file = url.database if url.get_backend_name() == "sqlite" else None
    if log is not None:
        log_dir = log
    elif sqlite_file and sqlite_file != ":memory:":
        log_dir = Path(sqlite_file).parent
    else:
        log_dir = Path.cwd()
    base = Path(sqlite_file).name if sqlite_file else (url.database or url.get_backend_name())
    given = _read_input(sdtm_dir, True, f"SDTM from {sdtm_dir}")
    checked = _gate(given, allow_invalid)
    init_study(db)
    started = time.monotonic()

    def committed(done: BatchDone) -> None:
        console.print(batch_line(done, time.monotonic() - started), highlight=False)

    with progress_bar(console, False) as bar:
        task = bar.add_task("loading", total=None)
        summary = load_sdtm(
            db,
            checked.datasets,
            transfer=transfer or f"SDTM from {sdtm_dir}",
            progress=lambda what: bar.update(task, description=what),
            batch_size=batch_size,
            on_batch=committed,
        )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    written = write_run_log(
        log_dir,
        inputs=input_files([sdtm_dir]),
        findings=checked.issues,
        outputs={},
        extra={
            "database": url.render_as_string(hide_password=True),
            "transfer": transfer or f"SDTM from {sdtm_dir}",
            "patients": summary.patients,
            "records": summary.records,
            "sites_added": list(summary.sites_added),
            "resumed_after_patients": summary.resumed_from,
            "batch_size": batch_size,
            "allow_invalid": allow_invalid,
        },
        name=f"{base}.load-{stamp}.json",
    )
    if summary.resumed_from:
        console.print(f"resumed after {summary.resumed_from} patients committed earlier")
    console.print(
        f"{summary.patients} patients registered; "
        + ", ".join(f"{n} {k}" for k, n in summary.records.items())
        + " records kept"
    )
    if summary.sites_added:
        console.print(f"sites added: {', '.join(summary.sites_added)}")
    if checked.report.findings:
        print_findings(console, checked.report)
        _say_issues(checked, str(written))
    console.print(f"run log -> {written}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str,
        typer.Option(help="sponsor_admin, investigator, coordinator, monitor or data_manager."),
    ],
    site: Annotated[
        str | None, typer.Option(help="Site code, for investigators and coordinators.")
    ] = None,
    full_name: Annotated[str, typer.Option(help="Name shown in the application.")] = "",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="EAP_PASSWORD",
            help="Asked for when not given (or from EAP_PASSWORD).",
        ),
    ] = "",
    db: DbUrl = "sqlite:///eap.db",
) -> None:
    """Add a user account (password stored as an argon2 hash)."""
    from eap.store.bootstrap import create_user

    create_user(db, username, password, role, site, full_name)
    console.print(f"user {username} added ({role}{' at site ' + site if site else ''})")


@users_app.command("list")
def users_list(db: DbUrl = "sqlite:///eap.db") -> None:
    """List accounts: role, site, active, login delay until, password change required."""
    from rich.table import Table

    from eap.store.bootstrap import user_rows

    table = Table(
        "username", "role", "site", "active", "no login before (UTC)", "must change password"
    )
    for row in user_rows(db):
        table.add_row(
            row["username"],
            row["role"],
            row["site"],
            str(row["active"]),
            row["locked_until"],
            str(row["must_change_password"]),
        )
    console.print(table)


# eap users unlock|deactivate|activate USERNAME: one account change each, in the trail.
USER_ACTIONS = {
    "unlock": ("Lift the login delay that five or more failed logins in a row set.", "unlocked"),
    "deactivate": (
        "Stop an account from logging in and end its sessions (it stays: the trail names it).",
        "deactivated",
    ),
    "activate": ("Let a deactivated account log in again.", "activated"),
}


def _user_action(action: str, help_text: str, done: str) -> Callable[..., None]:
    def command(
        username: Annotated[str, typer.Argument(help="Login name.")],
        db: DbUrl = "sqlite:///eap.db",
    ) -> None:
        from eap.store.bootstrap import manage_user

        manage_user(db, username, action)
        console.print(f"user {username} {done}")

    command.__doc__ = help_text
    return command


for _action, (_help, _done) in USER_ACTIONS.items():
    users_app.command(_action)(_user_action(_action, _help, _done))


@audit_app.command("verify")
def audit_verify(
    db: DbUrl = "sqlite:///eap.db",
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head",
            help="A head hash printed by an earlier verify and kept elsewhere: the chain "
            "must still pass through it (catches a consistent rewrite of the chain).",
        ),
    ] = None,
) -> None:
    """Recompute the trail's hash chain and replay it against the clinical tables.

    Prints each finding (table, record, field, expected, found) and exits 1 if there is
    any; otherwise one summary line with the chain's head hash, to keep elsewhere.
    """
    from eap.formatting import plural
    from eap.store.verify import verify_trail

    result = verify_trail(db, expect_head)
    for finding in result.findings:
        typer.echo(finding.text())
    head = f"head {result.head_id} {result.head_hash}"
    rows, records = plural(result.rows, "trail row"), plural(result.records, "record")
    if result.findings:
        typer.echo(
            f"audit trail verification FAILED: {plural(len(result.findings), 'finding')} "
            f"({rows}, {records}; {head})"
        )
        raise typer.Exit(1)
    verb = "matches" if result.records == 1 else "match"
    typer.echo(f"audit trail verified: {rows} chain, {records} {verb} their trail; {head}")


@users_app.command("reset-password")
def users_reset_password(
    username: Annotated[str, typer.Argument(help="Login name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="EAP_PASSWORD",
            help="The temporary password; asked for when not given (or from EAP_PASSWORD).",
        ),
    ] = "",
    db: DbUrl = "sqlite:///eap.db",
) -> None:
    """Set a temporary password: the user must change it at the next login and can do
    nothing else until then. Ends the user's sessions and lifts a login delay."""
    from eap.store.bootstrap import reset_user_password

    reset_user_password(db, username, password)
    console.print(f"password of {username} reset; it must be changed at the next login")


@app.command()
def serve(
    db: DbUrl = "sqlite:///eap.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies/--insecure-cookies",
            help="Send the session cookie over HTTPS only (keep on behind a TLS proxy).",
        ),
    ] = True,
    public_docs: Annotated[
        bool,
        typer.Option(
            "--public-docs",
            help="Serve /docs and /openapi.json without login (default: logged-in users only).",
        ),
    ] = False,
) -> None:
    """Run the study-operations web application (pages at /, API at /api, docs at /docs
    for logged-in users).

    Failed logins: from the fifth in a row an account takes no password for 1 s, doubling
    per further failure up to 15 min; a client address with 10 failed logins in 15 min is
    refused (429). At most 5 sessions per user. See docs/web.md."""
    import uvicorn

    from eap.web.app import create_app

    uvicorn.run(
        create_app(db, secure_cookies=secure_cookies, public_docs=public_docs), host=host, port=port
    )


@app.command()
def export(
    out: Annotated[Path, typer.Option(help="Output folder for the SDTM datasets.")],
    db: DbUrl = "sqlite:///eap.db",
    fmt: Annotated[str, typer.Option("--format", help="xpt, parquet, json or csv.")] = "xpt",
) -> None:
    """Write SDTM from the study database: form records and transfers (soft-deleted left out)."""
    from eap.store.export import export_sdtm

    for path in export_sdtm(db, out, fmt=fmt):
        console.print(f"wrote {path}")


def main() -> None:
    """Entry point: turn every EapError into a one-line message and exit status 2."""
    try:
        app()
    except EapError as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
