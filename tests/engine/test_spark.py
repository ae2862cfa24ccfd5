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
