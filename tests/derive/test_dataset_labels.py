"""Each derived ADaM dataset carries the label its specification gives it
(src/eap/datasets/specs.toml, read here as a plain TOML file)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from eap.datasets.io import read_folder
from eap.derive import derive_all
from eap.plans import load_study
from tests.conftest import DATA

SPECS = Path(__file__).resolve().parents[2] / "src" / "eap" / "datasets" / "specs.toml"


def test_every_derived_dataset_has_its_specification_label() -> None:
    labels = {
        name: spec["label"] for name, spec in tomllib.loads(SPECS.read_text())["datasets"].items()
    }
    toy = DATA / "toy_study"
    derived = derive_all(read_folder(toy / "sdtm"), study=load_study(toy)).datasets
    assert set(derived) == {"ADSL", "ADAE", "ADEX", "ADTTE"}
    for name, dataset in derived.items():
        assert dataset.label == labels[name], name
    assert labels["ADEX"] == "Exposure Analysis Dataset"
    assert labels["ADSL"] == "Subject-Level Analysis Dataset"
