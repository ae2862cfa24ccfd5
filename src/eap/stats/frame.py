"""Kaplan-Meier from an ADTTE-like Polars frame: the library side of ``eap km``.

* :func:`parse_where` turns a small, safe filter language into a Polars
  expression (no ``eval``): ``VAR == 'x'``, ``!=``, ``<``, ``<=``, ``>``, ``>=``
  against quoted strings or numbers, joined by ``and``/``&`` and ``or``/``|``,
  with parentheses. ``and`` binds tighter than ``or``.
* :func:`km_from_frame` selects rows, reads time and censoring (CDISC CNSR,
  1 = censored) or an event indicator, and fits one curve per ``by`` level plus
  the log-rank test across levels.
* :func:`km_json` gives the exact JSON document of ``eap km --json``;
  :func:`km_tables` the Rich tables printed without ``--json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl
from rich.table import Table

from eap.errors import StatsInputError
from eap.formatting import significant
from eap.stats._validate import check_binary, plural
from eap.stats.km import KaplanMeierCurve, KaplanMeierResult, Quantile, kaplan_meier
from eap.stats.logrank import LogrankResult, logrank_test

# --------------------------------------------------------------------------- where

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\||&|\||\(|\)|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_COMPARE = {"==", "!=", "<", "<=", ">", ">="}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m or m.end() == pos:
            raise StatsInputError(
                f"cannot read the filter at character {pos + 1}",
                variable="where",
                expected=(
                    "VAR == 'value', !=, <, <=, >, >=, in (...), is [not] null, "
                    "and, or, not, parentheses"
                ),
                found=repr(stripped[pos:]),
            )
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "name" and value.lower() in ("and", "or", "not", "is", "in", "null"):
            kind, value = "op", value.lower()
        tokens.append((kind, value))
        pos = m.end()
    return tokens


class _Parser:
    """The filter grammar; ``col`` builds its column expressions (``pl.col``, or
    ``nw.col`` for the engine-neutral rules), whose operators build the rest."""

    def __init__(self, text: str, columns: Sequence[str], col: Callable[[str], Any]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.columns = list(columns)
        self.col = col

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise StatsInputError(
                "the filter ends too early", variable="where", found=repr(self.text)
            )
        self.i += 1
        return tok

    def parse(self) -> Any:
        expr = self._or()
        if self._peek() is not None:
            raise StatsInputError(
                "unexpected text in the filter",
                variable="where",
                found=repr(self._peek()[1]),  # type: ignore[index]
            )
        return expr

    def _or(self) -> Any:
        left = self._and()
        while (tok := self._peek()) is not None and tok[1] in ("or", "|", "||"):
            self._take()
            left = left | self._and()
        return left

    def _and(self) -> Any:
        left = self._atom()
        while (tok := self._peek()) is not None and tok[1] in ("and", "&", "&&"):
            self._take()
            left = left & self._atom()
        return left

    def _literal(self) -> Any:
        lit_kind, lit = self._take()
        if lit_kind == "str":
            return re.sub(r"\\(.)", r"\1", lit[1:-1])
        if lit_kind == "num":
            return float(lit) if any(c in lit for c in ".eE") else int(lit)
        raise StatsInputError(
            "expected a quoted string or a number", variable="where", found=repr(lit)
        )

    def _membership(self, col: Any, negate: bool) -> Any:
        # VAR in ('a', 'b'): SQL's IN list; a null VAR is in no list.
        if self._take() != ("op", "("):
            raise StatsInputError("expected '(' after in", variable="where")
        values = [self._literal()]
        while self._peek() == ("op", ","):
            self._take()
            values.append(self._literal())
        if self._take() != ("op", ")"):
            raise StatsInputError("missing ')' after the in list", variable="where")
        inside = col.is_in(values)
        return ~inside if negate else inside

    def _atom(self) -> Any:
        kind, value = self._take()
        if (kind, value) == ("op", "not"):
            return ~self._atom()
        if (kind, value) == ("op", "("):
            inner = self._or()
            if self._peek() != ("op", ")"):
                raise StatsInputError("missing ')' in the filter", variable="where")
            self._take()
            return inner
        if kind != "name":
            raise StatsInputError(
                "a comparison must start with a variable name",
                variable="where",
                found=repr(value),
            )
        if value not in self.columns:
            raise StatsInputError(
                f"the filter names an unknown variable {value}",
                variable=value,
                expected="one of " + ", ".join(self.columns),
            )
        op_kind, op = self._take()
        col = self.col(value)
        if (op_kind, op) == ("op", "is"):
            negate = self._peek() == ("op", "not")
            if negate:
                self._take()
            if self._take() != ("op", "null"):
                raise StatsInputError("expected null after is", variable="where")
            return ~col.is_null() if negate else col.is_null()
        if (op_kind, op) == ("op", "in"):
            return self._membership(col, negate=False)
        if (op_kind, op) == ("op", "not"):
            if self._take() != ("op", "in"):
                raise StatsInputError("expected in after not", variable="where")
            return self._membership(col, negate=True)
        if op_kind != "op" or op not in _COMPARE:
            raise StatsInputError(
                "expected a comparison operator", variable="where", found=repr(op)
            )
        literal = self._literal()
        compare: dict[str, Any] = {
            "==": col == literal,
            "!=": col != literal,
            "<": col < literal,
            "<=": col <= literal,
            ">": col > literal,
            ">=": col >= literal,
        }
        return compare[op]


def filter_variables(text: str) -> list[str]:
    """The variables a filter names, in order.

    >>> filter_variables("PARAMCD == 'OS' and AVAL < 2")
    ['PARAMCD', 'AVAL']
    """
    return [value for kind, value in _tokenize(text) if kind == "name"]


def parse_where(text: str, columns: Sequence[str]) -> pl.Expr:
    """Parse a filter such as ``PARAMCD == 'PFS' and SAFFL == "Y"`` into a Polars expression.

    Comparisons (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``) of a variable with a
    quoted string or a number, ``VAR in ('a', 'b')``, ``VAR not in (...)``, ``VAR is
    null``, ``VAR is not null``, joined by ``and``, ``or``, ``not`` and parentheses. A
    comparison with a null value is false, as in SQL and SAS WHERE.

    >>> import polars as pl
    >>> df = pl.DataFrame({"PARAMCD": ["PFS", "OS"], "AVAL": [3, 5]})
    >>> df.filter(parse_where("PARAMCD == 'OS' or AVAL < 2", df.columns)).height
    1
    """
    return _Parser(text, columns, pl.col).parse()  # type: ignore[no-any-return]


def parse_where_neutral(text: str, columns: Sequence[str]) -> nw.Expr:
    """:func:`parse_where` as a Narwhals expression (for rules run on any engine)."""
    return _Parser(text, columns, nw.col).parse()  # type: ignore[no-any-return]


def parse_times(text: str | None) -> tuple[float, ...]:
    """Landmark times from ``"0,20,40"`` (empty or None: none)."""
    if not text:
        return ()
    out: list[float] = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise StatsInputError(
                "landmark times must be numbers separated by commas",
                variable="at",
                expected="e.g. 0,20,40",
                found=repr(text),
            ) from None
        if not np.isfinite(value) or value < 0:
            raise StatsInputError("landmark times must be >= 0", variable="at", found=part)
        out.append(value)
    return tuple(out)


# --------------------------------------------------------------------------- fit


@dataclass(frozen=True, eq=False)
class KmReport:
    """What ``eap km`` computes: the curves, the landmark times and the log-rank test."""

    fit: KaplanMeierResult
    by: str | None
    at: tuple[float, ...]
    logrank: LogrankResult | None
    n_rows: int


def _column(frame: pl.DataFrame, name: str, role: str) -> pl.Series:
    if name not in frame.columns:
        raise StatsInputError(
            f"no {role} variable {name} in the data",
            variable=name,
            expected="one of " + ", ".join(frame.columns),
        )
    return frame.get_column(name)


def _numbers(frame: pl.DataFrame, name: str, role: str) -> np.ndarray:
    """The variable as floats; a value that is not a number is an error naming it."""
    col = _column(frame, name, role)
    try:
        out = col.cast(pl.Float64, strict=False)
    except pl.exceptions.PolarsError:
        out = pl.Series(name, [None] * col.len(), dtype=pl.Float64)
    bad = col.filter(out.is_null() & col.is_not_null())
    if bad.len():
        shown = ", ".join(repr(v) for v in bad.unique(maintain_order=True).head(3).to_list())
        raise StatsInputError(
            f"the {role} variable {name} is not numeric: {plural(bad.len())} not a number",
            variable=name,
            expected="numbers",
            found=shown,
        )
    return out.to_numpy()


def km_from_frame(
    frame: pl.DataFrame,
    *,
    time: str,
    censor: str | None = None,
    event: str | None = None,
    by: str | None = None,
    where: str | None = None,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    convention: str = "R",
    at: Sequence[float] = (),
) -> KmReport:
    """Fit Kaplan-Meier curves (one per ``by`` level) on the rows selected by ``where``.

    Exactly one of ``censor`` (CDISC CNSR: 1 censored, 0 event) and ``event``
    (1 event, 0 censored) names the status variable.
    """
    if (censor is None) == (event is None):
        raise StatsInputError(
            "give exactly one of censor (CNSR, 1 = censored) and event (1 = event)",
            found=f"censor={censor!r}, event={event!r}",
        )
    if where:
        frame = frame.filter(parse_where(where, frame.columns))
    if frame.height == 0:
        raise StatsInputError(
            "no rows left to analyse" + (f" after the filter {where!r}" if where else ""),
            expected="at least one row",
            found="0 rows",
        )
    t = _numbers(frame, time, "time")
    status_name = censor if censor is not None else event
    assert status_name is not None
    status = _numbers(frame, status_name, "status")
    if np.isnan(status).any():
        bad = np.isnan(status)
        raise StatsInputError(
            f"{plural(int(bad.sum()))} with a missing {status_name}",
            variable=status_name,
            rows=[int(i) for i in np.flatnonzero(bad)[:10]],
        )
    check_binary(status, status_name)
    ev = (1.0 - status) if censor is not None else status
    strata: pl.Series | np.ndarray | None = None
    if by is not None:
        col = _column(frame, by, "by")
        nulls = col.is_null()
        if nulls.any():
            idx = np.flatnonzero(nulls.to_numpy())
            raise StatsInputError(
                f"{plural(idx.size)} with a missing {by}",
                variable=by,
                rows=[int(i) for i in idx[:10]],
            )
        # A Categorical or Enum goes in as it is: its codes are used, not its labels.
        categorical = isinstance(col.dtype, pl.Categorical | pl.Enum)
        strata = col if categorical else col.to_numpy()
    fit = kaplan_meier(
        t,
        ev.astype(np.int8),
        strata=strata,
        conf_type=conf_type,
        conf_level=conf_level,
        convention=convention,
    )
    lr = None
    if strata is not None and len(fit) > 1:
        lr = logrank_test(t, ev.astype(np.int8), strata)
    return KmReport(fit=fit, by=by, at=tuple(float(x) for x in at), logrank=lr, n_rows=t.size)


# --------------------------------------------------------------------------- output


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def km_json(report: KmReport) -> dict[str, Any]:
    """The document printed by ``eap km --json`` (None becomes null)."""
    strata: list[dict[str, Any]] = []
    for c in report.fit:
        entry: dict[str, Any] = {
            "by": {report.by: _plain(c.label)} if report.by is not None else {},
            "n": c.n,
            "events": c.events,
            "censored": c.censored,
        }
        for key, q in (("median", c.median), ("q1", c.q1), ("q3", c.q3)):
            entry[key] = q.estimate
            entry[f"{key}_ci"] = [q.lower, q.upper]
        entry["at"] = [
            {
                "time": a.time,
                "n_risk": a.n_risk,
                "survival": a.survival,
                "std_err": a.std_err,
                "lower": a.lower,
                "upper": a.upper,
                "reason": a.reason,
            }
            for a in (c.survival_at(report.at) if report.at else ())
        ]
        strata.append(entry)
    lr = report.logrank
    return {
        "conf_type": report.fit.conf_type,
        "conf_level": report.fit.conf_level,
        "strata": strata,
        "logrank": None if lr is None else {"chisq": lr.chisq, "df": lr.df, "p": lr.p},
    }


def _q(q: Quantile) -> str:
    est, lo, hi = significant([q.estimate, q.lower, q.upper])
    return f"{est} ({lo}, {hi})"


def km_tables(report: KmReport) -> list[Table]:
    """Readable tables: quantiles per stratum, then landmarks, with the method as caption."""
    fit = report.fit
    pct = f"{fit.conf_level * 100:g}%"
    summary = Table(
        title="Kaplan-Meier estimates",
        caption=(
            f"{pct} CIs: {fit.conf_type} transform, Greenwood variance; quantile CIs by "
            f"Brookmeyer-Crowley; quantile rule: {fit.convention} convention. NE: not estimable."
        ),
    )
    summary.add_column(report.by or "")
    for name in ("N", "Events", "Censored"):
        summary.add_column(name, justify="right")
    for name in ("Median", "25th percentile", "75th percentile"):
        summary.add_column(f"{name} ({pct} CI)", justify="right")
    curves: list[KaplanMeierCurve] = list(fit)
    for c in curves:
        summary.add_row(
            "All" if c.label is None else str(c.label),
            str(c.n),
            str(c.events),
            str(c.censored),
            _q(c.median),
            _q(c.q1),
            _q(c.q3),
        )
    tables = [summary]
    if report.at:
        land = Table(title=f"Survival at landmark times ({pct} CI)")
        land.add_column(report.by or "")
        for name in ("Time", "At risk", "Survival", "Std err", "CI"):
            land.add_column(name, justify="right")
        notes: list[str] = []
        for c in curves:
            for a in c.survival_at(report.at):
                s, lo, hi = significant([a.survival, a.lower, a.upper])
                mark = ""
                if a.reason is not None:
                    if a.reason not in notes:
                        notes.append(a.reason)
                    mark = "*" * (notes.index(a.reason) + 1)
                land.add_row(
                    "All" if c.label is None else str(c.label),
                    f"{a.time:g}",
                    str(a.n_risk),
                    s + mark,
                    significant([a.std_err])[0],
                    "NE" if a.lower is None or a.upper is None else f"({lo}, {hi})",
                )
        if notes:
            land.caption = "; ".join(f"{'*' * (i + 1)} {n}" for i, n in enumerate(notes))
        tables.append(land)
    if report.logrank is not None:
        lr = report.logrank
        test = Table(title="Log-rank test")
        for name in ("Chi-square", "DF", "p"):
            test.add_column(name, justify="right")
        test.add_row(f"{lr.chisq:.4f}", str(lr.df), f"{lr.p:.4g}")
        tables.append(test)
    return tables
