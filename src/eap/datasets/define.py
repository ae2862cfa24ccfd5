"""define.xml 2.1 for the ADaM datasets eap writes, and its check against the CDISC schema.

:func:`define_xml` builds the document from the datasets as written (their variables,
types, lengths and labels), ``specs.toml`` (dataset class, structure, keys, variable
labels, cores and codelists) and the derivation rules (eap.derive.docs.variable_rules,
as MethodDefs). It is a pure function: the same datasets, rules and creation time give
the same bytes. :func:`write_define` writes ``define.xml`` and the stylesheet beside
the datasets; :func:`schema_errors` and :func:`check_define` validate a define.xml
against the Define-XML 2.1 schema shipped in ``schema/define-2-1`` (no network).
docs/datasets.md has the rules.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import polars as pl
from lxml import etree

from eap.datasets import specs
from eap.datasets.model import ColumnMeta, Dataset
from eap.errors import EapError

__all__ = [
    "DEFINE_FILE",
    "DefineError",
    "check_define",
    "creation_time",
    "define_xml",
    "schema_errors",
    "write_define",
]

ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM, "def": DEF, "xlink": XLINK}

DEFINE_FILE = "define.xml"
STYLESHEET = "define2-1.xsl"
# Define-XML 2.1.0: the specification's version (later 2.1.n releases of the schema
# only update its controlled terms; the shipped schema is 2.1.9).
DEFINE_VERSION = "2.1.0"
# The ADaM Implementation Guide the datasets follow (ADSL, BDS and OCCDS as in v1.1).
ADAMIG_VERSION = "1.1"
STANDARD_OID = f"STD.ADaMIG.{ADAMIG_VERSION}"

_SCHEMA_DIR = "schema/define-2-1"
_SCHEMA_MAIN = "cdisc-define-2.1/define2-1-0.xsd"

# ODM's sasName: SASDatasetName and SASFieldName are left out for a name SAS cannot
# have (possible in Parquet or Dataset-JSON, never in XPT).
_SAS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,7}$")

# A numeric date in an XPT file: a SAS number of days with a date format.
_SAS_TEMPORAL_FORMAT = {"date": "DATE9.", "datetime": "DATETIME20.", "time": "TIME8."}


class DefineError(EapError):
    """A define.xml does not conform to the Define-XML 2.1 schema, or cannot be read."""


def _def(name: str) -> str:
    return f"{{{DEF}}}{name}"


def _odm(name: str) -> str:
    return f"{{{ODM}}}{name}"


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    """``<tag><TranslatedText xml:lang="en">text</TranslatedText></tag>``."""
    el = etree.SubElement(parent, tag)
    tt = etree.SubElement(el, _odm("TranslatedText"))
    tt.set(XML_LANG, "en")
    tt.text = text
    return el


def creation_time(environ: Mapping[str, str] | None = None) -> dt.datetime:
    """ODM's CreationDateTime: SOURCE_DATE_EPOCH (seconds since 1970, UTC) when set, so
    that a rerun writes the same bytes (reproducible-builds.org), else now; in UTC,
    to the second."""
    env = os.environ if environ is None else environ
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch is None or epoch == "":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        seconds = int(epoch)
    except ValueError:
        raise DefineError(
            "SOURCE_DATE_EPOCH is not a whole number of seconds",
            variable="SOURCE_DATE_EPOCH",
            expected="an integer such as 1700000000",
            found=repr(epoch),
        ) from None
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


# ------------------------------------------------------------------ types and lengths


def data_type(kind: str, numeric_dates: bool) -> str:
    """define.xml DataType of an eap kind. ADaM dates in XPT are SAS numbers of days
    with a display format, so they are ``integer`` (def:DisplayFormat says DATE9.);
    in a format that keeps dates as dates (Parquet, Dataset-JSON) they are ``date``.

    >>> data_type("string", True), data_type("double", True), data_type("date", True)
    ('text', 'float', 'integer')
    >>> data_type("date", False), data_type("datetime", False)
    ('date', 'datetime')
    """
    if kind == "string":
        return "text"
    if kind == "integer":
        return "integer"
    if kind == "double":
        return "float"
    return "integer" if numeric_dates else kind


def numeric_kind(kind: str, declared: str | None, column: pl.Series) -> str:
    """The kind a numeric variable is defined as: the one specs.toml declares, else
    ``integer`` when every value is a whole number (an XPT file stores every number as
    a double, so the file alone cannot tell), else ``double``. Other kinds stay.

    >>> numeric_kind("double", None, pl.Series([2.0, None, -3.0]))
    'integer'
    >>> numeric_kind("double", None, pl.Series([2.0, 2.5]))
    'double'
    >>> numeric_kind("integer", "double", pl.Series([2, 3]))
    'double'
    """
    if kind not in ("integer", "double"):
        return kind
    if declared in ("integer", "double"):
        return declared
    values = column.drop_nulls().cast(pl.Float64)
    whole = values.len() > 0 and bool((values == values.round(0)).all())
    return "integer" if whole else "double"


def text_length(column: pl.Series, declared: int | None) -> int:
    """Length of a text variable: the declared length (XPT's), else the longest value in
    bytes, at least 1 (the rule eap's XPT writer applies)."""
    longest = int(column.str.len_bytes().max() or 0) if column.dtype == pl.String else 0  # type: ignore[arg-type]
    return declared or max(longest, 1)


def integer_length(column: pl.Series) -> int:
    """Length of an integer variable: the most digits of its values (without the sign,
    as float_digits).

    >>> integer_length(pl.Series([3, -120, None]))
    3
    """
    values = column.drop_nulls()
    return max((len(str(abs(int(v)))) for v in values), default=1)


def float_digits(column: pl.Series) -> tuple[int, int]:
    """Length and SignificantDigits of a float variable: the most digits, and the most
    decimals, of its values written in full (the shortest text that reads back as the
    same double).

    >>> float_digits(pl.Series([61.0, 2.25, None, -10.5]))
    (3, 2)
    """
    length, decimals = 1, 0
    for v in column.drop_nulls():
        text = f"{abs(float(v))!r}"
        if "e" in text or "inf" in text or "nan" in text:
            text = format(abs(float(v)), "f")
        whole, _, frac = text.partition(".")
        frac = frac.rstrip("0")
        length = max(length, len(whole.lstrip("0") or "0") + len(frac))
        decimals = max(decimals, len(frac))
    return length, decimals


# ------------------------------------------------------------------ the document


class _Variables:
    """A dataset as define.xml reads it: its name, label and variables' metadata, and
    each variable's values read when asked (the last one kept), so that a large
    dataset read from its file is never held whole (ADAE of a million patients: 42
    variables, 7.6 M records)."""

    def __init__(self, datasets: Mapping[str, Dataset], name: str) -> None:
        from eap.datasets.lazy import header

        self._datasets = datasets
        self._header = header(datasets, name)
        self._last: tuple[str, pl.Series] | None = None

    @property
    def name(self) -> str:
        return self._header.name

    @property
    def label(self) -> str:
        return self._header.label

    @property
    def columns(self) -> tuple[ColumnMeta, ...]:
        return self._header.columns

    @property
    def names(self) -> list[str]:
        return self._header.frame.columns

    def select(self, *variables: str) -> pl.DataFrame:
        from eap.datasets.lazy import Projected

        wanted = set(variables)
        return Projected(self._datasets, lambda *_: wanted)[self._header.name].frame

    def __getitem__(self, variable: str) -> pl.Series:
        if self._last is None or self._last[0] != variable:
            self._last = (variable, self.select(variable)[variable])
        return self._last[1]


def _item_def(
    parent: etree._Element,
    oid: str,
    ds: _Variables,
    col: ColumnMeta,
    label: str,
    codelist_oid: str | None,
    method_oid: str | None,
    numeric_dates: bool,
) -> None:
    item = etree.SubElement(parent, _odm("ItemDef"))
    item.set("OID", oid)
    item.set("Name", col.name)
    series = ds[col.name]
    kind = data_type(_kind(ds.name, col, series), numeric_dates)
    item.set("DataType", kind)
    if kind == "text":
        item.set("Length", str(text_length(series, col.length)))
    elif kind == "float":
        length, decimals = float_digits(series)
        item.set("Length", str(length))
        item.set("SignificantDigits", str(decimals))
    elif col.kind in ("integer", "double"):
        item.set("Length", str(integer_length(series)))
    if _SAS_NAME.match(col.name):
        item.set("SASFieldName", col.name)
    if col.kind in _SAS_TEMPORAL_FORMAT and numeric_dates:
        item.set(_def("DisplayFormat"), col.display_format or _SAS_TEMPORAL_FORMAT[col.kind])
    _text(item, _odm("Description"), label)
    if codelist_oid:
        etree.SubElement(item, _odm("CodeListRef")).set("CodeListOID", codelist_oid)
    if method_oid:
        etree.SubElement(item, _def("Origin")).set("Type", "Derived")


def _kind(dataset: str, col: ColumnMeta, series: pl.Series) -> str:
    spec = specs.get(dataset)
    var = spec.variable(col.name) if spec else None
    return numeric_kind(col.kind, var.kind if var else None, series)


def _paramcd_decodes(ds: _Variables) -> list[tuple[str, str]]:
    """The (PARAMCD, PARAM) pairs of a BDS dataset, sorted by code."""
    if "PARAMCD" not in ds.names or "PARAM" not in ds.names:
        return []
    pairs = ds.select("PARAMCD", "PARAM").drop_nulls("PARAMCD").unique().sort("PARAMCD")
    return [(str(code), str(param or "")) for code, param in pairs.iter_rows()]


def _coded_values(column: pl.Series) -> list[str]:
    """The distinct values of a column as codelist text (a whole number without ".0").

    >>> _coded_values(pl.Series([1.0, None, 0.0, 1.0]))
    ['0', '1']
    >>> _coded_values(pl.Series(["WHITE", "ASIAN", None]))
    ['ASIAN', 'WHITE']
    """
    values = column.drop_nulls().unique().sort()
    if values.dtype.is_numeric():
        return [str(int(v)) if float(v).is_integer() else str(v) for v in values]
    return [str(v) for v in values]


def _codelist(
    parent: etree._Element,
    oid: str,
    name: str,
    kind: str,
    terms: Sequence[tuple[str, str | None]],
    c_code: str | None,
    extended: Sequence[str] = (),
) -> None:
    """A CodeList: EnumeratedItems, or CodeListItems when the terms have decodes; then
    the ``extended`` values (def:ExtendedValue Yes)."""
    cl = etree.SubElement(parent, _odm("CodeList"))
    cl.set("OID", oid)
    cl.set("Name", name)
    cl.set("DataType", kind)
    decoded = any(decode for _, decode in terms)
    for order, (value, decode) in enumerate(terms, start=1):
        item = etree.SubElement(cl, _odm("CodeListItem" if decoded else "EnumeratedItem"))
        item.set("CodedValue", value)
        item.set("OrderNumber", str(order))
        if decoded:
            _text(item, _odm("Decode"), decode or value)
    for order, value in enumerate(extended, start=len(terms) + 1):
        item = etree.SubElement(cl, _odm("CodeListItem" if decoded else "EnumeratedItem"))
        item.set("CodedValue", value)
        item.set("OrderNumber", str(order))
        item.set(_def("ExtendedValue"), "Yes")
        if decoded:
            _text(item, _odm("Decode"), value)
    if c_code:
        alias = etree.SubElement(cl, _odm("Alias"))
        alias.set("Context", "nci:ExtCodeID")
        alias.set("Name", c_code)


@dataclass
class _Collected:
    """What the ItemGroupDefs refer to, written after them in the order ODM requires."""

    item_defs: list[tuple[str, _Variables, ColumnMeta, str, str | None, str | None]] = field(
        default_factory=list
    )
    codelists: dict[str, tuple[str, str, list[tuple[str, str | None]], str | None]] = field(
        default_factory=dict
    )
    # Values of an extensible codelist found in the data but not among its terms.
    extended: dict[str, set[str]] = field(default_factory=dict)
    method_defs: list[tuple[str, str, str]] = field(default_factory=list)


def _odm_root(study_id: str, study_title: str, created: dt.datetime) -> etree._Element:
    """ODM with its Study, GlobalVariables and MetaDataVersion (returned) and the
    ADaMIG standard."""
    root = etree.Element(_odm("ODM"), nsmap=NSMAP)  # type: ignore[arg-type]
    root.set("FileType", "Snapshot")
    root.set("FileOID", f"eap.{study_id}.ADaM.define")
    root.set("ODMVersion", "1.3.2")
    root.set("CreationDateTime", created.astimezone(dt.UTC).isoformat())
    root.set("Originator", "eap")
    root.set("SourceSystem", "eap")
    root.set(_def("Context"), "Other")
    study = etree.SubElement(root, _odm("Study"))
    study.set("OID", f"ST.{study_id}")
    globals_ = etree.SubElement(study, _odm("GlobalVariables"))
    etree.SubElement(globals_, _odm("StudyName")).text = study_id
    etree.SubElement(globals_, _odm("StudyDescription")).text = study_title
    etree.SubElement(globals_, _odm("ProtocolName")).text = study_id
    mdv = etree.SubElement(study, _odm("MetaDataVersion"))
    mdv.set("OID", f"MDV.{study_id}.ADaM")
    mdv.set("Name", f"{study_id} ADaM")
    mdv.set("Description", f"ADaM datasets of {study_id} written by eap derive")
    mdv.set(_def("DefineVersion"), DEFINE_VERSION)
    standards = etree.SubElement(mdv, _def("Standards"))
    std = etree.SubElement(standards, _def("Standard"))
    std.set("OID", STANDARD_OID)
    std.set("Name", "ADaMIG")
    std.set("Type", "IG")
    std.set("Version", ADAMIG_VERSION)
    std.set("Status", "Final")
    return mdv


def _rule(variable: str, rules: Mapping[str, str], params: list[tuple[str, str]]) -> str | None:
    """A variable's derivation rule; AVAL and AVALC also get each parameter's rule."""
    rule = rules.get(variable)
    if variable in ("AVAL", "AVALC"):
        by_param = [f"{code}: {rules[code]}" for code, _ in params if code in rules]
        rule = " ".join(x for x in (rule, *by_param) if x) or None
    return rule


def _codelist_of(
    name: str,
    ds: _Variables,
    col: ColumnMeta,
    kind: str,
    params: list[tuple[str, str]],
    found: _Collected,
) -> str | None:
    """The OID of the variable's codelist, recorded in ``found``: the spec's codelist
    (with the data's values outside an extensible one), or the dataset's PARAMCDs."""
    spec = specs.get(name)
    var = spec.variable(col.name) if spec else None
    if var and var.codelist:
        cl = specs.codelist(var.codelist)
        oid = f"CL.{cl.name}.{kind}"
        found.codelists[oid] = (cl.name, kind, [(t, None) for t in cl.terms], cl.c_code)
        if cl.extensible:
            extra = set(_coded_values(ds[col.name])) - set(cl.terms)
            found.extended.setdefault(oid, set()).update(extra)
        return oid
    if col.name == "PARAMCD" and params:
        oid = f"CL.{name}.PARAMCD"
        found.codelists[oid] = (f"{name} Parameter Code", kind, list(params), None)
        return oid
    return None


def _item_group(
    mdv: etree._Element,
    name: str,
    ds: _Variables,
    file: str,
    rules: Mapping[str, str],
    numeric_dates: bool,
    found: _Collected,
) -> None:
    """One dataset's ItemGroupDef: its ItemRefs, class and def:leaf; its ItemDefs,
    codelists and methods go to ``found``."""
    spec = specs.get(name)
    group = etree.SubElement(mdv, _odm("ItemGroupDef"))
    group.set("OID", f"IG.{name}")
    group.set("Name", name)
    group.set("Repeating", "No" if spec and spec.one_record_per_subject else "Yes")
    group.set("IsReferenceData", "No")
    if _SAS_NAME.match(name):
        group.set("SASDatasetName", name)
    group.set("Purpose", "Analysis")
    group.set(_def("Structure"), (spec.structure if spec else None) or "")
    group.set(_def("StandardOID"), STANDARD_OID)
    group.set(_def("ArchiveLocationID"), f"LF.{name}")
    _text(group, _odm("Description"), ds.label or (spec.label if spec else name))
    keys = spec.keys if spec else ()
    params = _paramcd_decodes(ds)
    for order, col in enumerate(ds.columns, start=1):
        var = spec.variable(col.name) if spec else None
        oid = f"IT.{name}.{col.name}"
        rule = _rule(col.name, rules, params)
        method_oid = f"MT.{name}.{col.name}" if rule else None
        ref = etree.SubElement(group, _odm("ItemRef"))
        ref.set("ItemOID", oid)
        ref.set("OrderNumber", str(order))
        ref.set("Mandatory", "Yes" if var and var.core == "Req" else "No")
        if col.name in keys:
            ref.set("KeySequence", str(keys.index(col.name) + 1))
        if method_oid and rule:
            ref.set("MethodOID", method_oid)
            found.method_defs.append((method_oid, f"Algorithm to derive {name}.{col.name}", rule))
        kind = data_type(_kind(name, col, ds[col.name]), numeric_dates)
        codelist_oid = _codelist_of(name, ds, col, kind, params, found)
        label = var.label if var else (col.label or col.name)
        found.item_defs.append((oid, ds, col, label, codelist_oid, method_oid))
    cls = etree.SubElement(group, _def("Class"))
    cls.set("Name", (spec.adam_class if spec else None) or "ADAM OTHER")
    if spec and spec.adam_subclass:
        etree.SubElement(cls, _def("SubClass")).set("Name", spec.adam_subclass)
    leaf = etree.SubElement(group, _def("leaf"))
    leaf.set("ID", f"LF.{name}")
    leaf.set(f"{{{XLINK}}}href", file)
    etree.SubElement(leaf, _def("title")).text = file


def define_xml(
    datasets: Mapping[str, Dataset],
    files: Mapping[str, str],
    *,
    study_id: str,
    study_title: str,
    methods: Mapping[str, Mapping[str, str]],
    created: dt.datetime,
    numeric_dates: bool = True,
    stylesheet: bool = True,
) -> bytes:
    """define.xml 2.1 of ADaM ``datasets`` (in specs.toml's order, ADSL first; others
    after, by name), whose files are ``files[name]`` relative to the define.xml, with
    the derivation rules ``methods`` (dataset -> variable or PARAMCD -> text).
    Pure: nothing is read or written."""
    mdv = _odm_root(study_id, study_title, created)
    known = list(specs.all_specs())
    ordered = sorted(
        datasets, key=lambda name: (known.index(name) if name in known else len(known), name)
    )
    found = _Collected()
    # ItemDefs follow every ItemGroupDef in define.xml, but each is made while its
    # dataset is at hand: one dataset read at a time (a lazy one is let go after it).
    item_defs = etree.Element("item_defs")
    for name in ordered:
        ds = _Variables(datasets, name)
        _item_group(mdv, name, ds, files[name], methods.get(name, {}), numeric_dates, found)
        for oid, of, col, label, codelist_oid, method_oid in found.item_defs:
            _item_def(item_defs, oid, of, col, label, codelist_oid, method_oid, numeric_dates)
        found.item_defs.clear()
        del ds
    for item in list(item_defs):
        mdv.append(item)
    for oid, (cl_name, kind, terms, c_code) in found.codelists.items():
        _codelist(mdv, oid, cl_name, kind, terms, c_code, sorted(found.extended.get(oid, ())))
    for oid, title, rule in found.method_defs:
        method = etree.SubElement(mdv, _odm("MethodDef"))
        method.set("OID", oid)
        method.set("Name", title)
        method.set("Type", "Computation")
        _text(method, _odm("Description"), rule)

    tree = mdv.getroottree()
    if stylesheet:
        pi = etree.ProcessingInstruction("xml-stylesheet", f'type="text/xsl" href="{STYLESHEET}"')
        tree.getroot().addprevious(pi)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ------------------------------------------------------------------ validation


def _schema_file(relative: str) -> Path:
    return Path(str(resources.files("eap.datasets").joinpath(_SCHEMA_DIR, relative)))


@cache
def _schema() -> etree.XMLSchema:
    """The Define-XML 2.1 schema (with ODM 1.3.2, xlink, xml and xmldsig), loaded from
    the package: every import is a relative file path, so nothing is fetched."""
    return etree.XMLSchema(etree.parse(str(_schema_file(_SCHEMA_MAIN))))


def schema_errors(document: bytes) -> list[str]:
    """Every way ``document`` breaks the Define-XML 2.1 schema, one line each
    (``line N: message``); empty when it conforms."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        tree = etree.fromstring(document, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        return [f"line {exc.lineno}: not well-formed XML: {exc.msg}"]
    schema = _schema()
    if schema.validate(tree):
        return []
    return [f"line {e.line}: {_short(e.message)}" for e in schema.error_log]  # type: ignore[attr-defined]


def _short(message: str) -> str:
    """lxml's message with the namespaces written as prefixes, as in the file."""
    return (
        message.replace(f"{{{ODM}}}", "")
        .replace(f"{{{DEF}}}", "def:")
        .replace(f"{{{XLINK}}}", "xlink:")
    )


def check_define(path: Path) -> None:
    """Raise a DefineError naming the file and each schema violation (line, element,
    what was expected) unless ``path`` is a valid define.xml 2.1."""
    try:
        document = path.read_bytes()
    except OSError as exc:
        raise DefineError("cannot read the define.xml", file=path, found=str(exc)) from None
    errors = schema_errors(document)
    if errors:
        shown = errors[:20]
        which = ", the first 20" if len(errors) > 20 else ""
        raise DefineError(
            f"not valid against the Define-XML 2.1 schema: {len(errors)} "
            f"error{'' if len(errors) == 1 else 's'}{which}:\n  " + "\n  ".join(shown),
            file=path,
        )


def write_define(
    folder: Path,
    datasets: Mapping[str, Dataset],
    files: Mapping[str, str],
    *,
    study_id: str,
    study_title: str,
    methods: Mapping[str, Mapping[str, str]],
    numeric_dates: bool = True,
    file_name: str = DEFINE_FILE,
) -> Path:
    """Write ``file_name`` (define.xml; checked against the schema first: nothing invalid is
    written) and the define2-1.xsl stylesheet that renders it in a browser."""
    document = define_xml(
        datasets,
        files,
        study_id=study_id,
        study_title=study_title,
        methods=methods,
        created=creation_time(),
        numeric_dates=numeric_dates,
    )
    errors = schema_errors(document)
    if errors:
        raise DefineError(
            "the define.xml eap built is not valid against the Define-XML 2.1 schema:\n  "
            + "\n  ".join(errors[:20]),
            file=folder / file_name,
        )
    target = folder / file_name
    target.write_bytes(document)
    shutil.copyfile(_schema_file(STYLESHEET), folder / STYLESHEET)
    return target
