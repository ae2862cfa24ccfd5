"""One exception hierarchy for everything eap reports to a user.

Every message names where the problem is (file or dataset, variable, rows) and
what was expected versus what was found, so that a data manager can fix the
input without reading code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def _rows_text(rows: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    noun = "row" if len(rows) == 1 else "rows"
    return f"{noun} {shown}{more}"


class EapError(Exception):
    """Base of every error eap raises on purpose.

    The optional context is joined into the message in a fixed order:
    ``file: dataset.variable (rows ...): problem; expected ..., found ...``.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        dataset: str | None = None,
        variable: str | None = None,
        rows: Sequence[int] | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.dataset = dataset
        self.variable = variable
        self.rows = list(rows) if rows is not None else None
        self.expected = expected
        self.found = found
        super().__init__(self._compose())

    def _compose(self) -> str:
        where: list[str] = []
        if self.file:
            where.append(self.file)
        target = ".".join(x for x in (self.dataset, self.variable) if x)
        if target:
            where.append(target)
        head = ": ".join(where)
        if self.rows:
            head = f"{head} ({_rows_text(self.rows)})" if head else _rows_text(self.rows)
        text = f"{head}: {self.problem}" if head else self.problem
        detail = [f"expected {self.expected}"] if self.expected is not None else []
        if self.found is not None:
            detail.append(f"found {self.found}")
        return f"{text}; {', '.join(detail)}" if detail else text


class DatasetReadError(EapError):
    """A dataset file cannot be read: missing, malformed or not what its extension says."""


class DatasetWriteError(EapError):
    """A dataset cannot be written in the requested format."""


class SpecError(EapError):
    """A dataset specification is inconsistent, or a dataset has no specification."""


class StatsInputError(EapError):
    """Input to a statistical method is invalid (negative times, bad event codes, ...)."""


class ProtocolError(EapError):
    """A protocol file or a patient's protocol facts are invalid or contradictory."""


class PlanError(EapError):
    """A study definition or analysis plan file is invalid, or does not fit the data."""


class StoreError(EapError):
    """The study database refused an operation (no hard delete, missing reason for change, ...)."""


class NotFoundError(StoreError):
    """A record does not exist, or is outside what the user may see (the two look the same)."""


class AccessDeniedError(StoreError):
    """The user may see the record but their role may not do this to it."""


class ConflictError(StoreError):
    """Another user saved the record first; ``current`` holds the newer values."""

    def __init__(self, problem: str, *, current: dict[str, object], **kw: object) -> None:
        self.current = current
        super().__init__(problem, **kw)  # type: ignore[arg-type]


class EditCheckError(StoreError):
    """Edit checks failed: ``errors`` maps each field to the message shown beside it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        text = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        super().__init__(f"edit checks failed: {text}")


class AuthError(EapError):
    """Login refused: unknown user, wrong password, locked or inactive account."""
