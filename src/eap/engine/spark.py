"""A Spark session for eap, and datasets read into it.

Spark comes from the optional ``spark`` extra (``pip install 'eap[spark]'``: pyspark)
and a Java runtime (17 or newer). The session is the one the usual Spark configuration
gives (``SPARK_HOME``'s spark-defaults.conf, ``PYSPARK_SUBMIT_ARGS``, a cluster's own
settings), with ``master`` when given (``local[*]`` when neither names one), and two
settings eap's rules rely on: dates and times in UTC (a date is never shifted by the
driver's time zone) and Arrow for results collected on the driver.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import narwhals as nw
import polars as pl

from eap.datasets.lazy import file_of, schema
from eap.datasets.model import Dataset
from eap.engine.frames import Frame, Tables
from eap.errors import EapError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Settings eap sets on every session it starts (docs/performance.md); eap shows its
# own progress, which Spark's stage bars would write over.
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
# A session in local mode is small: few shuffle partitions (and, when eap names the
# local master, no web UI).
LOCAL_SETTINGS = {"spark.sql.shuffle.partitions": "4"}


def local_driver_memory() -> str:
    """Half of this machine's memory, in whole gigabytes (at least 1g): the driver's
    heap in a local session eap starts. Spark's own default, 1g, runs out of heap at
    80,000 patients; the heap is a bound, taken only as needed."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1, total // 2 // 2**30)}g"


def _configured() -> bool:
    """Whether a Spark configuration outside eap may name a master (then eap leaves
    the master to it when none is given)."""
    return any(v in os.environ for v in ("PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR", "SPARK_HOME"))


def session(
    master: str | None = None, app: str = "eap", conf: Mapping[str, str] | None = None
) -> SparkSession:
    """The active Spark session, or a new one (``master``: a Spark master URL such as
    ``local[2]`` or ``spark://host:7077``; None: the configured master, else
    ``local[*]``; ``conf``: Spark settings, as ``spark-submit --conf`` gives them).

    A new local session gets, unless ``conf`` says otherwise, no web UI and a driver
    heap of :func:`local_driver_memory`. eap's :data:`SETTINGS` apply over ``conf``.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EapError(
            "the Spark engine needs pyspark",
            expected="pip install 'eap[spark]' and a Java runtime (17 or newer)",
        ) from None
    if master is None and not _configured():
        master = "local[*]"
    settings: dict[str, str] = {}
    builder: Any = SparkSession.builder.appName(app)
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            settings = {"spark.ui.enabled": "false", "spark.driver.memory": local_driver_memory()}
    for key, value in {**settings, **(conf or {}), **SETTINGS}.items():
        builder = builder.config(key, value)
    try:
        spark: SparkSession = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: Java missing, bad master URL
        raise EapError(
            f"Spark did not start: {str(exc).splitlines()[0]}",
            expected="a Java runtime (17 or newer) and a reachable Spark master",
            found=master or "the configured master",
        ) from None
    if (spark.sparkContext.master or "").startswith("local"):
        for key, value in LOCAL_SETTINGS.items():
            spark.conf.set(key, value)
    return spark


@contextmanager
def failures() -> Iterator[None]:
    """Spark's errors (a failed job, a lost executor, a heap run out) as an EapError
    with the first line Spark gave and what to try, instead of a Java stack trace."""
    try:
        yield
    except Exception as exc:
        if not type(exc).__module__.startswith(("py4j", "pyspark")):
            raise
        lines = [line.strip(" :") for line in str(exc).splitlines() if line.strip(" :")]
        cause = next(
            (x for x in lines if "Exception" in x or "Error" in x), lines[0] if lines else ""
        )
        raise EapError(
            f"Spark failed: {cause[:300]}",
            expected="Spark's log above says why; when it shows java.lang.OutOfMemoryError, "
            "more memory: --spark-conf spark.driver.memory=16g (local mode) or "
            "spark.executor.memory (a cluster)",
        ) from None


class _SparkTables(Mapping[str, Frame]):
    """Datasets as Spark frames: a Parquet file read by Spark, a dataset held in memory
    sent to it; either with the variables and types the datasets give (a view's
    variables; numbers eap reads as Int64)."""

    def __init__(self, spark: SparkSession, datasets: Mapping[str, Dataset]) -> None:
        self.spark = spark
        self.datasets = datasets

    def __getitem__(self, name: str) -> Frame:
        path = file_of(self.datasets, name)
        if path is None:
            return from_polars(self.spark, self.datasets[name].frame)
        wanted = schema(self.datasets, name)
        frame = nw.from_native(self.spark.read.parquet(_uri(path))).select(list(wanted))
        given = frame.collect_schema()
        casts = [
            nw.col(c).cast(nw.Int64)
            for c, t in wanted.items()
            if t == pl.Int64 and given[c] != nw.Int64
        ]
        return frame.with_columns(casts) if casts else frame

    def __iter__(self) -> Iterator[str]:
        return iter(self.datasets)

    def __len__(self) -> int:
        return len(self.datasets)


def spark_tables(spark: SparkSession, datasets: Mapping[str, Dataset]) -> Tables:
    """``datasets`` (eap's, lazy or held, through any views) as tables on Spark."""
    return _SparkTables(spark, datasets)


def read_parquet(spark: SparkSession, files: Mapping[str, Path]) -> dict[str, Frame]:
    """Datasets by name from their Parquet files, each a lazy Spark frame."""
    return {name: nw.from_native(spark.read.parquet(_uri(path))) for name, path in files.items()}


def _uri(path: Path) -> str:
    """A file's URI (``file:///...``): a bare path would be read from the cluster's
    default file system (HDFS on many clusters), not the file eap names. On a cluster
    the file must be on a file system the executors share (docs/performance.md)."""
    return Path(path).resolve().as_uri()


def from_polars(spark: SparkSession, frame: pl.DataFrame) -> Frame:
    """A Polars DataFrame as a Spark frame (through Arrow; types kept)."""
    sent: Frame = nw.from_native(spark.createDataFrame(frame.to_arrow()))
    return sent
