"""A study definition: what the derivations and analyses of one study need to know.

A study is a folder of files (``study.toml`` and ``plan.toml``); the built-in ones
(``mm024``, ``cdisc-pilot``) live next to this module. ``study.toml`` holds:

* ``[study]``: id, title, the protocol file (operational rules, optional), the
  default data cutoff (none: the latest date in the data) and the month length in days;
* ``[treatments]``: the EXTRT values of the study, which one is the study drug, and
  whether EX holds doses given before the study's consent (a parent trial's);
* ``[arms]``: the planned and actual arm variables of ADSL, the levels in display
  order with their labels, and whether a Total column is shown;
* ``[populations.NAME]``: a label and a filter on ADSL (``SAFFL == 'Y'``);
* ``[adsl.flags.NAME]``: study-specific ADSL flags as filters on ADSL;
* ``[adsl.variables.NAME]``, ``[adsl.groups.NAME]``, ``[adsl] order``: study-specific
  ADSL variables merged from SDTM records, categories, and the column order;
* ``[adae]``: the treatment-emergent window after the last dose (days), AE flags, the
  action taken with the study drug, the phase at onset;
* ``[adex]``, ``[response]``: exposure and response rules;
* ``[event_sources.NAME]``, ``[censor_sources.NAME]``, ``[endpoints.PARAMCD]``: the
  time-to-event endpoints (see eap.plans.rules).

Filters use the language of ``eap km --where`` (``==``, ``!=``, ``<``, ``<=``, ``>``,
``>=``, ``and``, ``or``, ``not``, parentheses, quoted strings and numbers).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eap.errors import PlanError
from eap.plans.rules import (
    AdaeRules,
    AdexRules,
    AdslGroup,
    AdslVariable,
    Endpoint,
    ResponseRules,
    TteSource,
    parse_adae,
    parse_adex,
    parse_adsl_groups,
    parse_adsl_variables,
    parse_endpoints,
    parse_response,
)

if TYPE_CHECKING:
    from eap.protocol import Protocol
    from eap.protocol.model import Lenalidomide

BUILTIN_DIR = Path(__file__).parent
BUILTIN = {"mm024": "mm024", "cdisc-pilot": "cdisc_pilot"}
# The study eap derives and reports when none is named.
DEFAULT_STUDY = "mm024"


@dataclass(frozen=True)
class Population:
    """A named analysis set: a filter on ADSL."""

    name: str
    label: str
    where: str


@dataclass(frozen=True)
class ArmLevel:
    value: str
    label: str


@dataclass(frozen=True)
class Arms:
    """The treatment arms: ADSL variables, levels in display order, the Total column.

    ``planned_from``/``actual_from``: the DM variables that ADSL's planned and actual
    arm variables copy (ARM and ACTARM; ARM when DM has no ACTARM).
    """

    planned: str
    actual: str
    levels: tuple[ArmLevel, ...]
    total: bool
    total_label: str = "Total"
    planned_from: str = "ARM"
    actual_from: str = "ACTARM"

    def label(self, value: str) -> str:
        for level in self.levels:
            if level.value == value:
                return level.label
        return value


@dataclass(frozen=True)
class Treatments:
    """``doses_before_consent``: EX holds doses given before the study's informed consent
    (DM.RFICDTC), a parent trial's in a rollover study; derive then does not report
    them as doses before consent."""

    study_drug: str
    extrt: tuple[str, ...]
    doses_before_consent: bool = False


@dataclass(frozen=True)
class AdslFlag:
    """A study-specific Y/N flag on ADSL, set where ``where`` holds (else N)."""

    name: str
    label: str
    where: str


@dataclass(frozen=True)
class Study:
    """A study definition as read from its ``study.toml``."""

    id: str
    name: str
    title: str
    folder: Path
    treatments: Treatments
    arms: Arms
    populations: Mapping[str, Population]
    cutoff: dt.date | None = None
    month_days: float = 365.25 / 12
    protocol: str | None = None
    te_window_days: int | None = None
    adsl_flags: tuple[AdslFlag, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    adsl_variables: tuple[AdslVariable, ...] = ()
    adsl_groups: tuple[AdslGroup, ...] = ()
    adsl_order: tuple[str, ...] = ()
    adae: AdaeRules = field(default_factory=AdaeRules)
    adex: AdexRules = field(default_factory=AdexRules)
    response: ResponseRules | None = None
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    tte_sources: Mapping[str, TteSource] = field(default_factory=dict)
    data: StudyData | None = None

    @property
    def file(self) -> Path:
        return self.folder / "study.toml"

    def load_protocol(self) -> Protocol | None:
        """The study's protocol (``[study] protocol``): a file beside study.toml or a
        built-in protocol name (``mm024``); None when the study names none."""
        if self.protocol is None:
            return None
        from eap.protocol import load_protocol
        from eap.protocol.model import BUILTIN_NAME

        path = self.folder / self.protocol
        if path.is_file():
            return load_protocol(path)
        if f"{self.protocol}.toml" == BUILTIN_NAME:
            return load_protocol()
        raise PlanError(
            "no such protocol",
            file=self.file,
            variable="study.protocol",
            expected=f"a file beside study.toml or a built-in protocol ({BUILTIN_NAME[:-5]})",
            found=repr(self.protocol),
        )

    def drug_regimen(self, protocol: Protocol) -> Lenalidomide:
        """The protocol's regimen of the study drug (renal bands, dose unit); a PlanError
        when the protocol's drug is not the study drug."""
        regimen = protocol.regimen.lenalidomide
        if regimen.name.upper() != self.treatments.study_drug.upper():
            raise PlanError(
                "the protocol's study drug is not the study's",
                file=self.file,
                variable="treatments.study_drug",
                expected=regimen.name,
                found=self.treatments.study_drug,
            )
        return regimen

    def population(self, name: str) -> Population:
        if name not in self.populations:
            raise PlanError(
                "unknown population",
                file=self.folder / "study.toml",
                variable="populations",
                expected="one of " + ", ".join(self.populations),
                found=repr(name),
            )
        return self.populations[name]


def study_folder(name_or_path: str | Path) -> Path:
    """The folder of a built-in study (``mm024``, ``cdisc-pilot``) or of a user's files."""
    text = str(name_or_path)
    if text in BUILTIN:
        return BUILTIN_DIR / BUILTIN[text]
    path = Path(name_or_path)
    if path.is_file():
        path = path.parent
    if not (path / "study.toml").is_file():
        raise PlanError(
            "no such study",
            file=path / "study.toml",
            expected="a built-in study (" + ", ".join(BUILTIN) + ") or a folder with study.toml",
            found=text,
        )
    return path


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file, or a PlanError naming the file and the line of a syntax error."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise PlanError("file not found", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError("not valid TOML", file=path, found=str(exc)) from None


class Fields:
    """Typed access to one TOML table; errors name the file and the dotted field."""

    def __init__(self, data: Mapping[str, Any], file: Path, prefix: str) -> None:
        if not isinstance(data, Mapping):
            raise PlanError("not a table", file=file, variable=prefix, found=repr(data))
        self.data, self.file, self.prefix = data, file, prefix

    def _name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def _fail(self, key: str, expected: str) -> PlanError:
        found = repr(self.data[key]) if key in self.data else "nothing"
        return PlanError(
            "invalid field",
            file=self.file,
            variable=self._name(key),
            expected=expected,
            found=found,
        )

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        return None if key not in self.data else self.text(key)

    def number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self._fail(key, "a number > 0")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._fail(key, "a whole number >= 0")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def texts(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.data.get(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings")
        return tuple(value)

    def date(self, key: str) -> dt.date | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self._fail(key, "an ISO 8601 date YYYY-MM-DD") from None

    def table(self, key: str, default: Mapping[str, Any] | None = None) -> Fields:
        if key not in self.data and default is not None:
            return Fields(default, self.file, self._name(key))
        if key not in self.data:
            raise self._fail(key, "a table")
        return Fields(self.data[key], self.file, self._name(key))

    def tables(self, key: str) -> list[Fields]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self._fail(key, "a list of tables")
        return [Fields(v, self.file, f"{self._name(key)}[{i}]") for i, v in enumerate(value)]

    def choice(self, key: str, allowed: Sequence[str], default: str | None = None) -> str:
        """A string that must be one of ``allowed``."""
        value = self.text(key, default)
        if value not in allowed:
            raise PlanError(
                f"unknown {key}",
                file=self.file,
                variable=self._name(key),
                expected="one of " + ", ".join(allowed),
                found=repr(value),
            )
        return value

    def choices(
        self, key: str, allowed: Sequence[str], default: tuple[str, ...] | None = None
    ) -> tuple[str, ...]:
        """A list of strings, each one of ``allowed``."""
        values = self.texts(key, default)
        for value in values:
            if value not in allowed:
                raise PlanError(
                    f"unknown {key} entry",
                    file=self.file,
                    variable=self._name(key),
                    expected="one of " + ", ".join(allowed),
                    found=repr(value),
                )
        return values

    def unknown(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                raise PlanError(
                    "unknown field",
                    file=self.file,
                    variable=self._name(key),
                    expected="one of " + ", ".join(allowed),
                )


def _arms(f: Fields) -> Arms:
    f.unknown(
        ("planned", "actual", "levels", "total", "total_label", "planned_from", "actual_from")
    )
    levels = []
    for entry in f.tables("levels"):
        entry.unknown(("value", "label"))
        value = entry.text("value")
        levels.append(ArmLevel(value, entry.text("label", value)))
    return Arms(
        planned=f.text("planned"),
        actual=f.text("actual"),
        levels=tuple(levels),
        total=f.flag("total", False),
        total_label=f.text("total_label", "Total"),
        planned_from=f.text("planned_from", "ARM"),
        actual_from=f.text("actual_from", "ACTARM"),
    )


@dataclass(frozen=True)
class StudyData:
    """The study's own data, used when a command is given none: ``kind`` is ``adam``,
    ``sdtm`` (a folder, relative to study.toml) or ``virtual-cohort`` (eap.simulate)."""

    kind: str
    folder: Path | None = None


def _data(top: Fields, folder: Path) -> StudyData | None:
    if "data" not in top.data:
        return None
    f = top.table("data")
    f.unknown(("adam", "sdtm", "virtual_cohort"))
    given = [k for k in ("adam", "sdtm", "virtual_cohort") if k in f.data]
    if len(given) != 1:
        raise PlanError(
            "name one source of data",
            file=f.file,
            variable="data",
            expected="adam, sdtm or virtual_cohort",
            found=", ".join(given) or "none",
        )
    if given[0] == "virtual_cohort":
        return StudyData("virtual-cohort") if f.flag("virtual_cohort", True) else None
    path = folder / f.text(given[0])
    if not path.is_dir():
        raise PlanError("no such folder", file=f.file, variable=f"data.{given[0]}", found=str(path))
    return StudyData(given[0], path)


def load_study(name_or_path: str | Path) -> Study:
    """Read a study definition: a built-in name or a folder (or its ``study.toml``).

    >>> load_study("mm024").populations["safety"].where
    "SAFFL == 'Y'"
    """
    folder = study_folder(name_or_path)
    file = folder / "study.toml"
    data = read_toml(file)
    top = Fields(data, file, "")
    head = top.table("study")
    head.unknown(("id", "title", "protocol", "cutoff", "month_days"))
    treat = top.table("treatments")
    treat.unknown(("study_drug", "extrt", "doses_before_consent"))
    pops = top.table("populations")
    populations: dict[str, Population] = {}
    for name in pops.data:
        p = pops.table(name)
        p.unknown(("label", "where"))
        populations[name] = Population(name, p.text("label", name), p.text("where"))
    flags: list[AdslFlag] = []
    adsl = top.table("adsl", {})
    adsl.unknown(("flags", "variables", "groups", "order"))
    flag_tables = adsl.table("flags", {})
    for name in flag_tables.data:
        g = flag_tables.table(name)
        g.unknown(("label", "where"))
        flags.append(AdslFlag(name, g.text("label", name), g.text("where")))
    adae = top.table("adae", {})
    adae.unknown(("te_window_days", "flags", "always_emergent", "action_variable", "period"))
    endpoints, tte_sources = parse_endpoints(top)
    top.unknown(
        (
            "study",
            "treatments",
            "arms",
            "populations",
            "adsl",
            "adae",
            "adex",
            "response",
            "endpoints",
            "event_sources",
            "censor_sources",
            "data",
        )
    )
    study_drug = treat.text("study_drug")
    extrt = treat.texts("extrt", (study_drug,))
    if study_drug not in extrt:
        raise PlanError(
            "the study drug is not among the treatments",
            file=file,
            variable="treatments.study_drug",
            expected="one of " + ", ".join(extrt),
            found=repr(study_drug),
        )
    return Study(
        id=head.text("id"),
        name=folder.name,
        title=head.text("title"),
        folder=folder,
        treatments=Treatments(study_drug, extrt, treat.flag("doses_before_consent", default=False)),
        arms=_arms(top.table("arms")),
        populations=populations,
        cutoff=head.date("cutoff"),
        month_days=head.number("month_days", 365.25 / 12),
        protocol=head.optional_text("protocol"),
        te_window_days=adae.integer("te_window_days"),
        adsl_flags=tuple(flags),
        raw=data,
        adsl_variables=parse_adsl_variables(adsl.table("variables", {})),
        adsl_groups=parse_adsl_groups(adsl.table("groups", {})),
        adsl_order=adsl.texts("order", ()),
        adae=parse_adae(adae),
        adex=parse_adex(top.table("adex", {})),
        response=parse_response(top.table("response")) if "response" in data else None,
        data=_data(top, folder),
        endpoints=endpoints,
        tte_sources=tte_sources,
    )
