"""docs/derivations.md, generated from the derivations' own metadata and the studies' files.

``python -m eap.derive.docs > docs/derivations.md`` writes it; a test fails when
the file and the code disagree, so the documentation cannot drift. :func:`explain`
gives one study's rules as text (``eap derive --study NAME --explain``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence

from eap import derive as derive_package
from eap.derive import adae, adcm, adex, adrs, adsl, adtte, checks, common
from eap.plans.study import BUILTIN, Study, load_study


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return out


def _cutoff_rule(study: Study) -> str:
    if study.cutoff is not None:
        return f"{study.cutoff} (study.toml), unless one is given"
    return "none in study.toml: the latest complete date in the data, unless one is given"


def _adsl_rows(study: Study) -> list[tuple[str, str, str]]:
    rows = [(v.name, v.label, v.describe()) for v in study.adsl_variables]
    rows += [(g.name, g.label, g.describe()) for g in study.adsl_groups]
    rows += [(f.name, f.label, f"Y when {f.where}, else N") for f in study.adsl_flags]
    return rows


def _adae_rows(study: Study) -> list[tuple[str, str, str]]:
    rule = (
        f"ASTDT >= TRTSDT and ASTDT <= TRTEDT + {study.te_window_days} days"
        if study.te_window_days is not None
        else "ASTDT >= TRTSDT (no window after the last dose)"
    )
    rows = [("TRTEMFL", "Treatment Emergent Analysis Flag", rule)]
    if study.adae.always_emergent:
        rows.append(("TRTEMFL", "", f"also when {study.adae.always_emergent} (from TRTSDT on)"))
    rows += [(f.name, f.label, f"Y when {f.where}") for f in study.adae.flags]
    if study.adae.action_variable:
        drug = study.treatments.study_drug.capitalize()
        rows.append(
            (
                study.adae.action_variable,
                f"Action Taken with {drug}",
                "INTERRUPTED, REDUCED, WITHDRAWN or NONE from AEACN",
            )
        )
    if study.adae.period:
        p = study.adae.period
        rows.append((p.name, p.label, p.describe()))
    return rows


def _endpoint_markdown(study: Study) -> list[str]:
    lines: list[str] = []
    for ep in study.endpoints.values():
        head = (
            f"**{ep.paramcd}**, {ep.param}: AVAL in {ep.unit.lower()} from {ep.origin.describe()}"
        )
        if ep.truncate:
            head += f"; truncated at {ep.truncate.describe()}"
        rows: list[tuple[str, ...]] = []
        for kind, sources in (("event", ep.events), ("censoring", ep.censors)):
            for s in sources:
                src = f"{s.source_domain}.{s.source_variable}" if s.source_domain else ""
                rows.append((kind, s.name, str(s.cnsr), s.date_rule(), s.description, src))
        lines += [head + ".", ""]
        lines += _table(("Kind", "Source", "CNSR", "Date", "Description", "SRCDOM.SRCVAR"), rows)
        lines.append("")
    return lines


def study_markdown(study: Study) -> list[str]:
    """The rules a study's files set, as Markdown."""
    lines = [
        f"### {study.id} (`--study {_builtin_name(study)}`)",
        "",
        f"- Study drug: {study.treatments.study_drug}; treatments: "
        + ", ".join(study.treatments.extrt),
        f"- Data cutoff: {_cutoff_rule(study)}",
        f"- Month: {study.month_days} days",
        f"- Protocol: {study.protocol or 'none (no planned dose intensity in ADEX)'}",
        f"- Arms: {study.arms.planned} from DM.{study.arms.planned_from}, "
        f"{study.arms.actual} from DM.{study.arms.actual_from}",
        "",
    ]
    if _adsl_rows(study):
        lines += ["ADSL study variables:", ""]
        lines += [*_table(("Variable", "Label", "Rule"), _adsl_rows(study)), ""]
    lines += ["ADAE:", "", *_table(("Variable", "Label", "Rule"), _adae_rows(study)), ""]
    adex_rules = study.adex
    if adex_rules.end_of_treatment or adex_rules.long_treatment_weeks:
        lines += [
            f"ADEX: end of treatment: {adex_rules.end_of_treatment or 'the last dose'}; "
            f"treated beyond {adex_rules.long_treatment_weeks or '-'} weeks; "
            f"{_cycle_rule(study)}.",
            "",
        ]
    if study.response:
        r = study.response
        lines += [
            f"ADRS ({r.criteria}): {r.dataset} records where {r.where}; order "
            + " > ".join(r.order)
            + f"; responders {', '.join(r.responders)}; progression {r.progression}.",
            "",
        ]
    if study.endpoints:
        lines += [
            "ADTTE endpoints (events: the earliest wins; censorings: the first listed with",
            "a date; CNSR 0 = event, positive = censoring reason):",
            "",
        ]
        lines += _endpoint_markdown(study)
    else:
        lines += ["No time-to-event endpoints.", ""]
    return lines


def _check_rows() -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (r.check, r.severity, f"{r.dataset}.{r.variable}", f"after DM.DTHDTC: {r.message}")
        for r in checks.AFTER_DEATH
    ]
    r = checks.DOSE_BEFORE_CONSENT
    rows.append((r.check, r.severity, f"{r.dataset}.{r.variable}", r.message))
    return rows


def _cycle_rule(study: Study) -> str:
    """Where NINTERR's planned cycle length comes from, in words."""
    if study.adex.cycle_days is not None:
        days, source = study.adex.cycle_days, "study.toml [adex] cycle_days"
    else:
        protocol = study.load_protocol()
        if protocol is None:
            return "no cycle length: NINTERR counts only gaps inside a cycle"
        days, source = protocol.regimen.cycle_days, f"protocol {study.protocol}"
    return (
        f"cycles of {days} days ({source}): a dosed cycle starting {2 * days} days or more "
        "after the previous one adds one interruption"
    )


def _builtin_name(study: Study) -> str:
    for name, folder in BUILTIN.items():
        if study.folder.name == folder:
            return name
    return str(study.folder)


def derivations_markdown() -> str:
    """The whole document."""
    lines = [
        "# ADaM derivations",
        "",
        "Generated from the code and the built-in study files",
        "(`python -m eap.derive.docs > docs/derivations.md`); every rule below is the one",
        "the functions in `src/eap/derive/` apply. `eap derive SDTM_DIR --out ADAM_DIR",
        "[--study mm024|cdisc-pilot|FOLDER] [--cutoff DATE]` runs them all;",
        "`eap derive --study NAME --explain` prints one study's rules. The study definition",
        "(`study.toml`, see docs/plans.md) supplies what is specific to a study; the code",
        "holds the generic kinds of rule. The define.xml that `eap derive` writes beside the",
        "datasets carries these rules as its MethodDefs (docs/datasets.md, define.xml).",
        "",
        "## Data cutoff",
        "",
        inspect.cleandoc(derive_package.data_cutoff.__doc__ or ""),
        "",
        inspect.cleandoc(common.latest_date.__doc__ or ""),
        "",
        "What the cutoff does: ADSL's dates (TRTEDT, DTHDT, disposition), ADEX, ADRS and",
        "ADTTE use only records dated on or before it. ADAE and ADCM keep every record, but",
        "an AE or a medication starting after the cutoff is neither treatment-emergent",
        "(TRTEMFL) nor on treatment (ONTRTFL), so no table counts it.",
        "",
        "## Input findings (`eap.derive.checks`)",
        "",
        inspect.cleandoc(checks.__doc__ or ""),
        "",
        *_table(("Check", "Severity", "Variable", "Finding"), _check_rows()),
        "",
        "## ADSL (`eap.derive.adsl`)",
        "",
        inspect.cleandoc(adsl.__doc__ or ""),
        "",
        *_table(("Variable", "Label", "Rule", "Source"), [tuple(r) for r in adsl.RULES]),
        "",
        "## ADAE (`eap.derive.adae`)",
        "",
        inspect.cleandoc(adae.__doc__ or ""),
        "",
        *_table(("Variable", "Label"), sorted(adae.LABELS.items())),
        "",
        "## ADCM (`eap.derive.adcm`)",
        "",
        inspect.cleandoc(adcm.__doc__ or ""),
        "",
        *_table(("Variable", "Label"), sorted(adcm.LABELS.items())),
        "",
        "## ADEX (`eap.derive.adex`)",
        "",
        inspect.cleandoc(adex.__doc__ or ""),
        "",
        "## ADTTE (`eap.derive.adtte`)",
        "",
        inspect.cleandoc(adtte.__doc__ or ""),
        "",
        "## ADRS (`eap.derive.adrs`)",
        "",
        inspect.cleandoc(adrs.__doc__ or ""),
        "",
        "## The built-in studies",
        "",
    ]
    for name in BUILTIN:
        lines += study_markdown(load_study(name))
    return "\n".join(lines)


_BULLET = re.compile(r"^\* ", re.MULTILINE)
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_NAME = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")


def _bullets(doc: str | None) -> list[str]:
    """The bullet items of a module docstring, each on one line."""
    text = inspect.cleandoc(doc or "")
    items = _BULLET.split(text)[1:]
    out = []
    for item in items:
        body = item.split("\n\n")[0]  # a blank line ends the list
        out.append(" ".join(line.strip() for line in body.splitlines()))
    return out


def _names_in(text: str) -> list[str]:
    """The words of ``text`` that look like variable names (upper case, 2 to 8 long)."""
    return [w for w in re.split(r"[^A-Za-z0-9]+", text) if _NAME.match(w)]


def _bullet_names(bullet: str) -> list[str]:
    """The variables (or PARAMCDs) a rule bullet is about: the names in bold
    (``**TRTEMFL**``, ``**ASTDT/ASTDTF, AENDT/AENDTF**``), the names right after a
    bold heading (``**Dates** ASTDT/AENDT from ...``), or the leading name of an
    unbolded item (``TRTDURM, treatment duration ...``, ``BOR (best ...)``)."""
    bold = _BOLD.findall(bullet)
    names = [n for b in bold for n in _names_in(b)]
    if bold and not names:
        after = _BOLD.sub("", bullet, count=1).split()
        names = _names_in(after[0]) if after else []
    if not bold:
        first = re.split(r"[ ,(:]", bullet, maxsplit=1)[0]
        names = _names_in(first)
    return names


def variable_rules(study: Study) -> dict[str, dict[str, str]]:
    """The derivation rule of each ADaM variable, as documented above, by dataset and
    variable name; define.xml's MethodDefs (eap.datasets.define).

    ADSL's and ADAE's study rules come from the study's files; the other rules are the
    bullets of each derivation module's docstring that name the variable. A bullet
    named by a parameter code (ADEX's TRTDURM, ADRS's BOR) is keyed by that code: the
    rule of AVAL for that parameter. ADTTE's AVAL, ADT and CNSR get the module's
    numbered rules followed by each endpoint's sources.
    """
    rules: dict[str, dict[str, list[str]]] = {}

    def add(dataset: str, name: str, text: str) -> None:
        if text:
            rules.setdefault(dataset, {}).setdefault(name, []).append(text)

    for name, _, rule, source in adsl.RULES:
        add("ADSL", name, f"{rule} (source: {source})")
    for name, _, rule in _adsl_rows(study):
        add("ADSL", name, rule)
    for name, _, rule in _adae_rows(study):
        add("ADAE", name, rule)
    modules = {"ADAE": adae, "ADCM": adcm, "ADEX": adex, "ADRS": adrs}
    for dataset, module in modules.items():
        for bullet in _bullets(module.__doc__):
            text = _BOLD.sub(r"\1", bullet)
            for name in _bullet_names(bullet):
                add(dataset, name, text)
    paragraphs = inspect.cleandoc(adtte.__doc__ or "").split("\n\n")
    steps = " ".join(p for p in paragraphs if p.startswith("1. "))
    for ep in study.endpoints.values():
        add("ADTTE", ep.paramcd, ep.describe())
    for name in ("AVAL", "ADT", "CNSR"):
        add("ADTTE", name, steps)
    return {
        ds: {
            name: " ".join("; ".join(texts).replace("``", "").split()) for name, texts in by.items()
        }
        for ds, by in rules.items()
    }


def explain(study: Study) -> str:
    """One study's derivation rules as plain text (``eap derive --explain``)."""
    out = [
        f"{study.id}: {study.title}",
        f"study file: {study.file}",
        f"study drug: {study.treatments.study_drug}",
        f"data cutoff: {_cutoff_rule(study)}",
        f"month: {study.month_days} days",
        f"protocol: {study.protocol or 'none'}",
        f"arms: {study.arms.planned} from DM.{study.arms.planned_from}, "
        f"{study.arms.actual} from DM.{study.arms.actual_from}",
    ]
    if _adsl_rows(study):
        out.append("ADSL:")
        out += [f"  {name} ({label}): {rule}" for name, label, rule in _adsl_rows(study)]
    out.append("ADAE:")
    out += [f"  {name}: {rule}" for name, _, rule in _adae_rows(study)]
    out.append(f"ADEX: {_cycle_rule(study)}")
    if study.response:
        r = study.response
        out.append(
            f"ADRS: {r.criteria}, {r.dataset} records where {r.where}; "
            + " > ".join(r.order)
            + f"; responders {', '.join(r.responders)}"
        )
    if study.endpoints:
        out.append("ADTTE:")
        for ep in study.endpoints.values():
            out += ["  " + line for line in ep.describe().splitlines()]
    else:
        out.append("ADTTE: no endpoints")
    return "\n".join(out)


if __name__ == "__main__":
    print(derivations_markdown())
