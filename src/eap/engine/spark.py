"""A Spark session for eap, and datasets read into it.

Spark comes from the optional ``spark`` extra (``pip install 'eap[spark]'``: pyspark)
and a Java runtime (17 or newer). The session is the one the usual Spark configuration
gives (``SPARK_HOME``'s spark-defaults.conf, ``PYSPARK_SUBMIT_ARGS``, a cluster's own
settings), with ``master`` when given (``local[*]`` when neither names one), and two
settings eap's rules rely on: dates and times in UTC (a date is never shifted by the
driver's time zone) and Arrow for results collected on the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


def session(master: str | None = None, app: str = "eap") -> SparkSession:
    """The active Spark session, or a new one (``master``: a Spark master URL such as
    ``local[2]`` or ``spark://host:7077``; None: the configured master, else
    ``local[*]``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EapError(
            "the Spark engine needs pyspark",
            expected="pip install 'eap[spark]' and a Java runtime (17 or newer)",
        ) from None
    builder: Any = SparkSession.builder.appName(app)
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            builder = builder.config("spark.ui.enabled", "false")
    for key, value in SETTINGS.items():
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
