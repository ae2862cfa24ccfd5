"""The numbers the MM-024 publication reports, shipped as package data.

``src/eap/data/mm024_published.json`` transcribes every figure of the paper
(baseline, exposure, AEs, deaths, Table 4, cross-study numbers). The virtual
cohort is built to reproduce them and ``eap reproduce`` compares against them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Targets:
    """Typed access to the published figures."""

    data: dict[str, Any]

    def baseline(self, population: str) -> dict[str, Any]:
        """Table 1 of ``safety`` or ``treatment_cohort``."""
        out: dict[str, Any] = self.data["baseline"][population]
        return out

    @property
    def cutoff(self) -> str:
        return str(self.data["study"]["data_cutoff"])

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


@cache
def published() -> Targets:
    """The MM-024 publication's figures."""
    text = resources.files("eap.data").joinpath("mm024_published.json").read_text("utf-8")
    return Targets(json.loads(text))
