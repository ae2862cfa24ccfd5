"""Studies as files: study definitions and analysis plans (built-in: mm024, cdisc-pilot)."""

from eap.plans.study import Study, load_study

__all__ = ["Study", "load_study"]
