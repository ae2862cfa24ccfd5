"""define.xml 2.1 of the ADaM that eap derive writes: schema-valid, complete, reproducible.

Expected values come from the Define-XML 2.1 schema shipped with eap (a document
either conforms or not), from specs.toml (the mapping under test is spec -> define),
from CDISC (the ADSL.USUBJID label, the SEX codelist C66731, the ADaM classes) and
from the MM-024 protocol (a 28-day treatment-emergent window).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import polars as pl
import pytest
from lxml import etree
from typer.testing import CliRunner

from eap.cli import app
from eap.datasets import specs
from eap.datasets.define import (
    DefineError,
    check_define,
    creation_time,
    schema_errors,
    text_length,
)
from eap.datasets.io import read_dataset
from eap.datasets.io import write_dataset as write_sdtm
from eap.simulate import simulate

runner = CliRunner()
NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
    "xlink": "http://www.w3.org/1999/xlink",
}
EPOCH = "1700000000"  # 2023-11-14T22:13:20Z


def _derive(sdtm: Path, out: Path, epoch: str = EPOCH, fmt: str = "xpt") -> None:
    result = runner.invoke(
        app,
        ["derive", str(sdtm), "--out", str(out), "--format", fmt],
        env={"SOURCE_DATE_EPOCH": epoch},
    )
    assert result.exit_code == 0, result.stdout


@pytest.fixture(scope="module")
def sdtm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sdtm")
    for name, ds in simulate(2014, 1).items():
        write_sdtm(ds, folder / f"{name.lower()}.xpt")
    return folder


@pytest.fixture(scope="module")
def adam(sdtm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("adam")
    _derive(sdtm, out)
    return out


def _tree(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def _label(element: etree._Element) -> str:
    return str(element.findtext("odm:Description/odm:TranslatedText", namespaces=NS))


SCHEMA = Path(__file__).parents[2] / "src/eap/datasets/schema/define-2-1"


def test_the_shipped_schema_files_are_the_ones_the_readme_records() -> None:
    rows = re.findall(
        r"^\| `([^`]+)` \|[^|]*\| `([0-9a-f]{64})` \|$", (SCHEMA / "README.md").read_text(), re.M
    )
    recorded = dict(rows)
    shipped = {
        p.relative_to(SCHEMA).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in SCHEMA.rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    assert len(recorded) == 11
    assert shipped == recorded


def test_derive_writes_a_define_xml_valid_against_the_schema(adam: Path) -> None:
    define = adam / "define.xml"
    assert schema_errors(define.read_bytes()) == []
    check_define(define)  # no error
    assert (adam / "define2-1.xsl").is_file()
    root = _tree(define)
    assert root.get("ODMVersion") == "1.3.2"
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv is not None
    assert mdv.get(f"{{{NS['def']}}}DefineVersion", "").startswith("2.1.")
    standard = mdv.find("def:Standards/def:Standard", NS)
    assert standard is not None and standard.get("Name") == "ADaMIG"


def test_a_second_validator_agrees(adam: Path) -> None:
    """xmlschema (pure Python, its own XSD engine) on the same schema files: the
    document eap writes is valid, and the one without def:Context is not."""
    import xmlschema

    schema = xmlschema.XMLSchema10(str(SCHEMA / "cdisc-define-2.1" / "define2-1-0.xsd"))
    text = (adam / "define.xml").read_text(encoding="utf-8")
    schema.validate(text)  # raises on the first violation
    assert not schema.is_valid(text.replace(' def:Context="Other"', "", 1))


def test_every_dataset_and_variable_derive_writes_is_in_define_xml(adam: Path) -> None:
    mdv = _tree(adam / "define.xml").find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv is not None
    groups = {g.get("Name"): g for g in mdv.findall("odm:ItemGroupDef", NS)}
    items = {i.get("OID"): i for i in mdv.findall("odm:ItemDef", NS)}
    files = sorted(adam.glob("ad*.xpt"))
    assert (
        {f.stem.upper() for f in files}
        == set(groups)
        == {
            "ADSL",
            "ADAE",
            "ADCM",
            "ADEX",
            "ADTTE",
            "ADRS",
        }
    )
    for file in files:
        ds = read_dataset(file)
        spec = specs.get(ds.name)
        assert spec is not None
        group = groups[ds.name]
        assert _label(group) == spec.label
        assert group.get("Purpose") == "Analysis"
        assert group.get(f"{{{NS['def']}}}Structure") == spec.structure
        cls = group.find("def:Class", NS)
        assert cls is not None and cls.get("Name") == spec.adam_class
        leaf = group.find("def:leaf", NS)
        assert leaf is not None and leaf.get(f"{{{NS['xlink']}}}href") == file.name
        refs = group.findall("odm:ItemRef", NS)
        assert [items[r.get("ItemOID")].get("Name") for r in refs] == [c.name for c in ds.columns]
        for ref, col in zip(refs, ds.columns, strict=True):
            var = spec.variable(col.name)
            expected = var.label if var else col.label
            assert _label(items[ref.get("ItemOID")]) == expected, (ds.name, col.name)
            key = ref.get("KeySequence")
            assert key == (str(spec.keys.index(col.name) + 1) if col.name in spec.keys else None)


def test_values_written_out_by_hand(adam: Path) -> None:
    mdv = _tree(adam / "define.xml").find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv is not None

    def item(oid: str) -> etree._Element:
        found = mdv.find(f"odm:ItemDef[@OID='{oid}']", NS)
        assert found is not None, oid
        return found

    # CDISC ADaMIG: the label of USUBJID; ADSL is the subject-level dataset.
    assert _label(item("IT.ADSL.USUBJID")) == "Unique Subject Identifier"
    adsl = mdv.find("odm:ItemGroupDef[@Name='ADSL']", NS)
    assert adsl is not None
    assert adsl.find("def:Class", NS).get("Name") == "SUBJECT LEVEL ANALYSIS DATASET"  # type: ignore[union-attr]
    assert adsl.get("Repeating") == "No"
    adtte = mdv.find("odm:ItemGroupDef[@Name='ADTTE']/def:Class", NS)
    assert adtte is not None and adtte.get("Name") == "BASIC DATA STRUCTURE"
    assert adtte.find("def:SubClass", NS).get("Name") == "TIME-TO-EVENT"  # type: ignore[union-attr]
    # An ADaM date in XPT is a SAS number of days shown as DATE9.
    trtsdt = item("IT.ADSL.TRTSDT")
    assert (trtsdt.get("DataType"), trtsdt.get(f"{{{NS['def']}}}DisplayFormat")) == (
        "integer",
        "DATE9.",
    )
    assert trtsdt.get("Length") is None
    # Text length: the longest value (USUBJID is the same width for every subject).
    usubjid = read_dataset(adam / "adsl.xpt").frame["USUBJID"]
    assert item("IT.ADSL.USUBJID").get("Length") == str(usubjid.str.len_bytes().max())
    # CDISC CT C66731 (Sex): M, F, U, UNDIFFERENTIATED.
    ref = item("IT.ADSL.SEX").find("odm:CodeListRef", NS)
    assert ref is not None
    sex = mdv.find(f"odm:CodeList[@OID='{ref.get('CodeListOID')}']", NS)
    assert sex is not None
    assert [e.get("CodedValue") for e in sex.findall("odm:EnumeratedItem", NS)] == [
        "M",
        "F",
        "U",
        "UNDIFFERENTIATED",
    ]
    assert sex.find("odm:Alias", NS).get("Name") == "C66731"  # type: ignore[union-attr]
    # CNSR is an integer, and so is its codelist.
    cnsr = mdv.find("odm:CodeList[@OID='CL.CNSR.integer']", NS)
    assert cnsr is not None and cnsr.get("DataType") == "integer"
    # PARAMCD's codelist decodes each code with PARAM.
    os_item = mdv.find(
        "odm:CodeList[@OID='CL.ADTTE.PARAMCD']/odm:CodeListItem[@CodedValue='OS']", NS
    )
    assert os_item is not None
    assert os_item.findtext("odm:Decode/odm:TranslatedText", namespaces=NS) == (
        "Overall Survival (months)"
    )
    # The MM-024 protocol's treatment-emergent window: 28 days after the last dose.
    trtemfl = mdv.find("odm:ItemGroupDef[@Name='ADAE']/odm:ItemRef[@ItemOID='IT.ADAE.TRTEMFL']", NS)
    assert trtemfl is not None
    method = mdv.find(f"odm:MethodDef[@OID='{trtemfl.get('MethodOID')}']", NS)
    assert method is not None
    assert "TRTEDT + 28 days" in _label(method)
    assert item("IT.ADAE.TRTEMFL").find("def:Origin", NS).get("Type") == "Derived"  # type: ignore[union-attr]
    # AVAL of ADEX: one rule per parameter.
    aval = mdv.find("odm:ItemGroupDef[@Name='ADEX']/odm:ItemRef[@ItemOID='IT.ADEX.AVAL']", NS)
    assert aval is not None
    text = _label(mdv.find(f"odm:MethodDef[@OID='{aval.get('MethodOID')}']", NS))  # type: ignore[arg-type]
    assert "CUMDOSE: CUMDOSE, cumulative dose" in text
    assert "RDI: RDI, relative dose intensity" in text


def test_reruns_are_byte_identical_under_source_date_epoch(
    sdtm: Path, adam: Path, tmp_path: Path
) -> None:
    first = (adam / "define.xml").read_bytes()
    _derive(sdtm, tmp_path / "again")
    assert (tmp_path / "again" / "define.xml").read_bytes() == first
    # 1 700 000 000 s after 1970-01-01T00:00:00Z is 2023-11-14T22:13:20Z.
    assert _tree(adam / "define.xml").get("CreationDateTime") == "2023-11-14T22:13:20+00:00"
    # One second later, another CreationDateTime and nothing else.
    _derive(sdtm, tmp_path / "later", epoch="1700000001")
    later = (tmp_path / "later" / "define.xml").read_bytes()
    assert later != first
    assert later.replace(b"22:13:21", b"22:13:20") == first


def test_creation_time() -> None:
    assert creation_time({"SOURCE_DATE_EPOCH": "0"}) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    assert abs((creation_time({}) - now).total_seconds()) < 5
    with pytest.raises(DefineError, match=r"SOURCE_DATE_EPOCH.*whole number.*found '2023-11-14'"):
        creation_time({"SOURCE_DATE_EPOCH": "2023-11-14"})


def test_text_length_is_the_declared_length_or_the_longest_value() -> None:
    values = pl.Series(["AB", "ABCD", None])
    assert text_length(values, None) == 4
    assert text_length(values, 8) == 8
    assert text_length(pl.Series([None, None], dtype=pl.String), None) == 1


def test_a_broken_define_xml_fails_with_the_line_and_the_attribute(
    adam: Path, tmp_path: Path
) -> None:
    good = (adam / "define.xml").read_bytes()
    broken = tmp_path / "define.xml"
    # Define-XML 2.1 requires def:Context on ODM (line 3, after the declaration and
    # the stylesheet).
    broken.write_bytes(good.replace(b' def:Context="Other"', b"", 1))
    with pytest.raises(DefineError) as caught:
        check_define(broken)
    message = str(caught.value)
    assert str(broken) in message
    assert "1 error:" in message
    assert "line 3: Element 'ODM': The attribute 'def:Context' is required but missing." in message
    # ODM requires Mandatory on every ItemRef: one error per ItemRef, the first 20 shown.
    refs = good.count(b"<ItemRef ")
    no_mandatory = tmp_path / "no_mandatory.xml"
    no_mandatory.write_bytes(
        good.replace(b' Mandatory="Yes"', b"").replace(b' Mandatory="No"', b"")
    )
    errors = schema_errors(no_mandatory.read_bytes())
    assert len(errors) == refs
    with pytest.raises(DefineError, match=rf"{refs} errors, the first 20:"):
        check_define(no_mandatory)
    # A DataType outside ODM's list.
    assert any(
        "'txt' is not an element of the set" in e
        for e in schema_errors(good.replace(b'DataType="text"', b'DataType="txt"', 1))
    )
    (unparsed,) = schema_errors(b"<ODM")
    assert unparsed.startswith("line 1: not well-formed XML: Couldn't find end of Start Tag ODM")


def test_define_command_checks_a_file_on_both_sides(adam: Path, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["define", "--check", str(adam / "define.xml")])
    assert ok.exit_code == 0, ok.stdout
    assert "valid define.xml 2.1" in " ".join(ok.stdout.split())
    broken = tmp_path / "define.xml"
    broken.write_bytes(
        (adam / "define.xml").read_bytes().replace(b' OrderNumber="1"', b' OrderNumber="x"', 1)
    )
    bad = runner.invoke(app, ["define", "--check", str(broken)])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, DefineError)
    assert "'x' is not a valid value" in str(bad.exception)


def test_define_command_rebuilds_derives_define_xml_from_the_files(adam: Path) -> None:
    # Read back from the XPT files, the datasets give the same define.xml byte for byte.
    again = runner.invoke(
        app,
        ["define", "--adam", str(adam), "--out", str(adam / "rebuilt.xml")],
        env={"SOURCE_DATE_EPOCH": EPOCH},
    )
    assert again.exit_code == 0, again.stdout
    assert (adam / "rebuilt.xml").read_bytes() == (adam / "define.xml").read_bytes()
    (adam / "rebuilt.xml").unlink()


def test_define_command_needs_one_of_adam_and_check(tmp_path: Path) -> None:
    neither = runner.invoke(app, ["define"])
    assert neither.exit_code != 0
    assert "give --adam DIR" in str(neither.exception)
    empty = runner.invoke(app, ["define", "--adam", str(tmp_path)])
    assert "no ADaM dataset eap knows" in str(empty.exception)


def test_dates_in_parquet_are_dates(sdtm: Path, tmp_path: Path) -> None:
    _derive(sdtm, tmp_path, fmt="parquet")
    mdv = _tree(tmp_path / "define.xml").find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv is not None
    trtsdt = mdv.find("odm:ItemDef[@OID='IT.ADSL.TRTSDT']", NS)
    assert trtsdt is not None and trtsdt.get("DataType") == "date"
    assert trtsdt.get(f"{{{NS['def']}}}DisplayFormat") is None
    leaf = mdv.find("odm:ItemGroupDef[@Name='ADSL']/def:leaf", NS)
    assert leaf is not None and leaf.get(f"{{{NS['xlink']}}}href") == "adsl.parquet"
    assert schema_errors((tmp_path / "define.xml").read_bytes()) == []


def _small_define(adsl: pl.DataFrame) -> etree._Element:
    from eap.datasets.define import define_xml
    from eap.datasets.specs import spec_dataset

    document = define_xml(
        {"ADSL": spec_dataset("ADSL", adsl)},
        {"ADSL": "adsl.xpt"},
        study_id="TOY-1",
        study_title="A toy study",
        methods={"ADSL": {"AGE": "years from birth to consent"}},
        created=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    assert schema_errors(document) == []
    root = etree.fromstring(document)
    mdv = root.find("odm:Study/odm:MetaDataVersion", NS)
    assert mdv is not None
    return mdv


def test_values_outside_an_extensible_codelist_are_extended_values() -> None:
    mdv = _small_define(
        pl.DataFrame(
            {
                "USUBJID": ["T-1", "T-2", "T-3"],
                "RACE": ["WHITE", "PACIFIC ISLANDER", None],  # RACE (C74457) is extensible
                "SEX": ["F", "X", "M"],  # SEX (C66731) is not: X is not added
                "AGE": [61.0, 70.5, None],
            }
        )
    )
    race = mdv.find("odm:CodeList[@OID='CL.RACE.text']", NS)
    assert race is not None
    items = race.findall("odm:EnumeratedItem", NS)
    assert len(items) == 9 + 1  # the 9 terms of specs.toml, then the one found
    extended = [i for i in items if i.get(f"{{{NS['def']}}}ExtendedValue") == "Yes"]
    assert [(i.get("CodedValue"), i.get("OrderNumber")) for i in extended] == [
        ("PACIFIC ISLANDER", "10")
    ]
    sex = mdv.find("odm:CodeList[@OID='CL.SEX.text']", NS)
    assert sex is not None
    assert "X" not in [i.get("CodedValue") for i in sex.findall("odm:EnumeratedItem", NS)]
    # AGE 70.5: 3 digits, 1 decimal; USUBJID: 3 characters.
    age = mdv.find("odm:ItemDef[@OID='IT.ADSL.AGE']", NS)
    assert age is not None
    assert (age.get("DataType"), age.get("Length"), age.get("SignificantDigits")) == (
        "float",
        "3",
        "1",
    )
    assert mdv.find("odm:ItemDef[@OID='IT.ADSL.USUBJID']", NS).get("Length") == "3"  # type: ignore[union-attr]
    method = mdv.find("odm:MethodDef[@OID='MT.ADSL.AGE']", NS)
    assert method is not None and _label(method) == "years from birth to consent"


def test_a_dataset_without_rows_still_gives_a_valid_define() -> None:
    mdv = _small_define(
        pl.DataFrame({"USUBJID": [], "AGE": []}, schema={"USUBJID": pl.String, "AGE": pl.Float64})
    )
    usubjid = mdv.find("odm:ItemDef[@OID='IT.ADSL.USUBJID']", NS)
    assert usubjid is not None and usubjid.get("Length") == "1"


def test_a_name_sas_cannot_have_gets_no_sas_name() -> None:
    # ODM's sasName: at most 8 characters, a letter or _ first. ADSLFLAG1 has 9.
    mdv = _small_define(pl.DataFrame({"USUBJID": ["T-1"], "ADSLFLAG": ["Y"], "ADSLFLAG1": ["Y"]}))
    eight = mdv.find("odm:ItemDef[@OID='IT.ADSL.ADSLFLAG']", NS)
    nine = mdv.find("odm:ItemDef[@OID='IT.ADSL.ADSLFLAG1']", NS)
    assert eight is not None and eight.get("SASFieldName") == "ADSLFLAG"
    assert nine is not None and nine.get("SASFieldName") is None
