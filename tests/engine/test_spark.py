"""The Spark session eap starts: what it needs, and what it says without it."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from eap.engine.spark import SETTINGS, session
from eap.errors import EapError


def test_without_pyspark_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # an import of it fails
    with pytest.raises(EapError) as info:
        session("local[1]")
    assert "the Spark engine needs pyspark" in str(info.value)
    assert "pip install 'eap[spark]'" in str(info.value)


def test_the_session_reads_dates_in_utc_and_collects_through_arrow(spark: Any) -> None:
    # The session eap's tests run on is the one eap.engine.spark.session started.
    assert session() is spark
    for key, value in SETTINGS.items():
        assert spark.conf.get(key) == value
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"


@pytest.mark.parametrize(
    ("gib", "expected"),
    [(24, "12g"), (4, "2g"), (3, "1g"), (1, "1g")],  # half, in whole GB, at least 1g
)
def test_a_local_driver_gets_half_the_machines_memory(
    monkeypatch: pytest.MonkeyPatch, gib: int, expected: str
) -> None:
    from eap.engine import spark as module

    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": gib * 2**30 // 4096}
    monkeypatch.setattr(module.os, "sysconf", lambda name: sizes[name])
    assert module.local_driver_memory() == expected


def test_a_spark_failure_is_an_error_that_says_what_spark_said(spark: Any) -> None:
    from eap.engine.spark import failures

    with pytest.raises(EapError) as info, failures():
        spark.sql("SELECT raise_error('the record 7 is broken')").collect()
    assert str(info.value).startswith("Spark failed: ")
    assert "the record 7 is broken" in str(info.value)
    assert "spark.driver.memory" in str(info.value)  # what to try when memory ran out
    with pytest.raises(ValueError, match="not Spark's"), failures():
        raise ValueError("not Spark's")  # other errors pass as they are


@pytest.mark.parametrize(
    ("environment", "configured"),
    [
        ({}, False),  # no Spark configuration: eap names local[*]
        ({"PYSPARK_SUBMIT_ARGS": "--master yarn pyspark-shell"}, True),
        ({"SPARK_CONF_DIR": "/etc/spark/conf"}, True),
        ({"SPARK_HOME": "/opt/spark"}, True),
    ],
)
def test_the_master_is_left_to_a_spark_configuration_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], configured: bool
) -> None:
    from eap.engine import spark as module

    for name in ("PYSPARK_SUBMIT_ARGS", "SPARK_CONF_DIR", "SPARK_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert module._configured() is configured
