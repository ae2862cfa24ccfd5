"""Analysis results data (ARD): every number a report shows, first as a row.

The rows follow the pharmaverse ``cards`` shape (eap.ard.cards: ``group1``,
``group1_level``, ``variable``, ``variable_level``, ``context``, ``stat_name``,
``stat``, ...), plus eap's ``output``, ``population`` and ``subjects`` (the USUBJIDs
behind a count). An analysis plan (eap.plans) says which outputs to compute;
``run_plan`` computes them, one module per kind:

* summary.py    ``summary``, ``exposure``, ``disposition``: continuous, categorical, flags
* incidence.py  ``incidence``: subjects with records, overall and by one or two levels
* tte.py        ``tte``, ``km_figure``: Kaplan-Meier, log-rank, Cox
* listing.py    ``listing``: records cell by cell
* intervals.py  ``intervals``: first onset by time on treatment, per patient-year
* swimmer.py    ``swimmer``: time on treatment and events per subject
* forest.py     ``forest``: response rates or hazard ratios by subgroup
* flow.py       ``flow``, ``comparison``: displays of other outputs' results

Each reads its records through source.py, on the engine of ``run_plan(...,
tables=...)`` (Polars by default; Spark for pooled data), and computes its statistics
from what the engine gives, at most a row per subject and level.

Renderers and ``eap reproduce`` read these rows; they never compute.
"""

from eap.ard.cards import ARD_SCHEMA
from eap.ard.run import PlanResult, run_plan

__all__ = ["ARD_SCHEMA", "PlanResult", "run_plan"]
