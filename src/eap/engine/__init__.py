"""Where the rules run: Polars on one machine, Spark for data that outgrows it.

A derivation written against :mod:`narwhals` (a :class:`narwhals.LazyFrame` in, one
out) runs as a Polars lazy query or as a Spark DataFrame plan, with no second
implementation of its rules. :mod:`eap.engine.frames` holds what the rules share on
either engine, and the few operations Narwhals does not carry to both (the date part
of ISO 8601 text, partial dates allowed), each implemented per engine and tested
equal (tests/engine). :mod:`eap.engine.spark` starts a Spark session and reads
datasets into it. docs/performance.md says why Narwhals.
"""

from eap.engine.frames import Frame, Tables, collect, columns, polars_tables

__all__ = ["Frame", "Tables", "collect", "columns", "polars_tables"]
