from __future__ import annotations

import pytest

from eap.datasets import specs
from eap.errors import SpecError


def test_every_dataset_the_project_needs_is_specified() -> None:
    names = set(specs.all_specs())
    assert {"DM", "EX", "AE", "DS", "CM", "MH", "RS", "SV", "LB"} <= names
    assert {"ADSL", "ADAE", "ADEX", "ADTTE", "ADRS"} <= names


@pytest.mark.parametrize(
    ("dataset", "keys"),
    [("AE", ("USUBJID", "AESEQ")), ("DM", ("USUBJID",)), ("ADTTE", ("USUBJID", "PARAMCD"))],
)
def test_keys(dataset: str, keys: tuple[str, ...]) -> None:
    spec = specs.get(dataset)
    assert spec is not None and spec.keys == keys


def test_controlled_terms_that_matter() -> None:
    assert specs.codelist("NY").terms == ("N", "Y", "U", "NA")
    assert specs.codelist("TOXGR").terms == ("1", "2", "3", "4", "5")
    assert specs.codelist("CNSR").terms[:2] == ("0", "1")  # 0 event, 1.. censoring reasons
    ae = specs.get("AE")
    assert ae is not None
    aeser = ae.variable("AESER")
    assert aeser is not None and aeser.codelist == "NY"
    toxgr = ae.variable("AETOXGR")
    assert toxgr is not None and toxgr.codelist == "TOXGR"


def test_every_sdtm_domain_requires_its_identifiers() -> None:
    for spec in specs.all_specs().values():
        required = {v.name for v in spec.required}
        assert {"STUDYID", "USUBJID"} <= required, spec.name
        if spec.standard == "SDTM":
            # supplemental qualifier datasets name their parent domain in RDOMAIN
            assert ("RDOMAIN" if spec.name.startswith("SUPP") else "DOMAIN") in required


def test_spec_file_errors_name_the_dataset_and_variable() -> None:
    doc = {
        "codelists": {},
        "datasets": {
            "XX": {
                "standard": "SDTM",
                "label": "x",
                "keys": ["USUBJID"],
                "variables": [["USUBJID", "Subject", "text", "Req"]],
            }
        },
    }
    with pytest.raises(SpecError, match=r"XX\.USUBJID: unknown kind"):
        specs.parse_specs(doc)
    doc["datasets"]["XX"]["variables"] = [["USUBJID", "Subject", "string", "Req", "NOPE"]]
    with pytest.raises(SpecError, match="unknown codelist"):
        specs.parse_specs(doc)
    doc["datasets"]["XX"]["variables"] = [["STUDYID", "Study", "string", "Req"]]
    with pytest.raises(SpecError, match=r"XX\.USUBJID: key or date pair"):
        specs.parse_specs(doc)
