"""Statistics that match R survival and SAS (LIFETEST, PHREG), each result carrying its method.

Every function takes arrays (or counts) and returns a frozen dataclass holding the
numbers and the method used (conf_type, conf_level, convention). A value that is
not estimable is None with a reason, never inf or NaN. See docs/statistics.md.
"""

from eap.stats.cox import CoxResult, CoxTerm, CoxTest, cox_ph
from eap.stats.followup import FollowUp, median_follow_up_reverse_km, median_observation_time
from eap.stats.km import (
    KaplanMeierCurve,
    KaplanMeierResult,
    Quantile,
    StratumCounts,
    SurvivalAt,
    aggregate,
    confidence_limits,
    counts_from_aggregate,
    kaplan_meier,
    kaplan_meier_from_counts,
    normalize_conf_type,
)
from eap.stats.logrank import LogrankResult, logrank_test, logrank_test_from_counts
from eap.stats.proportions import ProportionCI, clopper_pearson, wilson
from eap.stats.rates import (
    CrudeIncidence,
    IncidenceRate,
    IntervalIncidence,
    crude_incidence,
    exposure_adjusted_incidence_rate,
    incidence_by_interval,
    poisson_rate,
    time_at_risk,
)

__all__ = [
    "CoxResult",
    "CoxTerm",
    "CoxTest",
    "CrudeIncidence",
    "FollowUp",
    "IncidenceRate",
    "IntervalIncidence",
    "KaplanMeierCurve",
    "KaplanMeierResult",
    "LogrankResult",
    "ProportionCI",
    "Quantile",
    "StratumCounts",
    "SurvivalAt",
    "aggregate",
    "clopper_pearson",
    "confidence_limits",
    "counts_from_aggregate",
    "cox_ph",
    "crude_incidence",
    "exposure_adjusted_incidence_rate",
    "incidence_by_interval",
    "kaplan_meier",
    "kaplan_meier_from_counts",
    "logrank_test",
    "logrank_test_from_counts",
    "median_follow_up_reverse_km",
    "median_observation_time",
    "normalize_conf_type",
    "poisson_rate",
    "time_at_risk",
    "wilson",
]
