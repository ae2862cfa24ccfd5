"""Statistics that match R survival and SAS PROC LIFETEST, each result carrying its method."""

from eap.stats.km import (
    KaplanMeierCurve,
    KaplanMeierResult,
    Quantile,
    StratumCounts,
    SurvivalAt,
    aggregate,
    confidence_limits,
    kaplan_meier,
    kaplan_meier_from_counts,
    normalize_conf_type,
)
from eap.stats.logrank import LogrankResult, logrank_test

__all__ = [
    "KaplanMeierCurve",
    "KaplanMeierResult",
    "LogrankResult",
    "Quantile",
    "StratumCounts",
    "SurvivalAt",
    "aggregate",
    "confidence_limits",
    "kaplan_meier",
    "kaplan_meier_from_counts",
    "logrank_test",
    "normalize_conf_type",
]
