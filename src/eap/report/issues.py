"""The report's "Data issues" section: the input's findings and every record they concern.

The same text in HTML and PDF: an introduction (how many errors and warnings, and
whether the report was made with ``--allow-invalid``), one row per finding
(severity, check, where, how many records, the finding, what eap did with the
records) and one row per record (dataset, variable, row, USUBJID, value, check);
errors first, then warnings, each in the order the checks found them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eap.gate import DataIssue

FINDING_HEADERS = ("severity", "check", "where", "records", "finding", "what eap did")
RECORD_HEADERS = ("dataset", "variable", "row", "USUBJID", "value", "check")


def introduction(issues: Sequence[DataIssue]) -> str:
    """What the section lists, and how to read the report because of it."""
    errors = [i for i in issues if i.finding.severity == "error"]
    warnings = len(issues) - len(errors)
    records = sum(i.records for i in errors)
    text = (
        f"The input checks (eap validate's, and the derivations' own) found {len(errors)} "
        f"error{'' if len(errors) == 1 else 's'} and {warnings} "
        f"warning{'' if warnings == 1 else 's'}."
    )
    if errors:
        text += (
            f" The report was made with --allow-invalid: {records} "
            f"record{'' if records == 1 else 's'} break{'s' if records == 1 else ''} the "
            "specifications and are listed below with what eap did with them. The numbers "
            "of this report depend on them; correct them and run the report again."
        )
    return text


def ordered(issues: Sequence[DataIssue]) -> list[DataIssue]:
    """Errors first, then warnings (a stable sort: the checks' order within each)."""
    return sorted(issues, key=lambda i: i.finding.severity != "error")


def finding_rows(issues: Sequence[DataIssue]) -> list[tuple[str, ...]]:
    """One row per finding."""
    rows: list[tuple[str, ...]] = []
    for issue in ordered(issues):
        f = issue.finding
        where = f.dataset + (f".{f.variable}" if f.variable else "")
        detail = [f.message]
        if f.expected:
            detail.append(f"expected {f.expected}")
        if f.found:
            detail.append(f"found {f.found}")
        count = str(issue.records)
        if issue.records and not f.rows:
            count = f"all {issue.records}"
        action = issue.action if issue.records else ""  # no records, nothing done to them
        rows.append((f.severity, f.check, where, count, "; ".join(detail), action))
    return rows


def record_rows(issues: Sequence[DataIssue]) -> list[tuple[str, ...]]:
    """One row per record a finding concerns."""
    return [
        (
            issue.finding.dataset,
            issue.finding.variable or "",
            str(record.row),
            record.usubjid or "",
            "" if record.value is None else record.value,
            issue.finding.check,
        )
        for issue in ordered(issues)
        for record in issue.listed
    ]
