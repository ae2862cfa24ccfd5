"""A large study is derived a batch of subjects at a time (``derive_all``'s
``batch_subjects``): the parts, written in order, are the dataset derived whole."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from eap.datasets.io import read_dataset, read_folder, write_dataset, write_dataset_parts
from eap.datasets.model import Dataset
from eap.derive import derive_all
from eap.plans import load_study
from eap.plans.study import Study
from tests.conftest import PILOT


def _derived(
    sdtm: Mapping[str, Dataset], study: Study, folder: Path, batch: int | None
) -> tuple[dict[str, Dataset], dict[str, int]]:
    """Every ADaM dataset written to ``folder`` and read back; how many parts each had."""
    folder.mkdir()
    parts_of: dict[str, int] = {}

    def store(parts: Sequence[Dataset] | Iterator[Dataset]) -> bool:
        if isinstance(parts, Sequence):
            (ds,) = parts
            write_dataset(ds, folder / f"{ds.name}.parquet")
            parts_of[ds.name] = 1
            return True
        given = list(parts)
        name = given[0].name
        write_dataset_parts(iter(given), folder / f"{name}.parquet")
        parts_of[name] = len(given)
        return True

    derive_all(sdtm, study=study, store=store, batch_subjects=batch)
    return {p.stem: read_dataset(p) for p in sorted(folder.iterdir())}, parts_of


@pytest.mark.parametrize("source", ["mm024-exact", "mm024-protocol", "cdisc-pilot"])
def test_deriving_seven_subjects_at_a_time_gives_the_datasets_derived_whole(
    source: str, tmp_path: Path
) -> None:
    from eap.simulate import simulate
    from eap.simulate.model_cohort import simulate_model

    if source == "cdisc-pilot":
        sdtm, study = read_folder(PILOT / "sdtm"), load_study("cdisc-pilot")
    else:
        make = simulate if source == "mm024-exact" else simulate_model
        sdtm, study = make(2014, 1), load_study("mm024")
    whole, whole_parts = _derived(sdtm, study, tmp_path / "whole", None)
    batched, parts = _derived(sdtm, study, tmp_path / "batched", 7)
    assert set(whole_parts.values()) == {1}
    subjects = whole["ADSL"].n_rows
    # ADSL whole; every other dataset in ceil(subjects / 7) parts.
    assert parts == {n: 1 if n == "ADSL" else -(-subjects // 7) for n in whole}
    assert sorted(batched) == sorted(whole)
    for name, ds in whole.items():
        got = batched[name]
        assert (got.label, got.columns) == (ds.label, ds.columns), name
        assert_frame_equal(got.frame, ds.frame)  # values, types and row order


def test_a_batch_as_large_as_the_study_derives_it_whole(tmp_path: Path) -> None:
    sdtm, study = read_folder(PILOT / "sdtm"), load_study("cdisc-pilot")
    subjects = sdtm["DM"].n_rows
    _, at_size = _derived(sdtm, study, tmp_path / "at", subjects)
    _, below = _derived(sdtm, study, tmp_path / "below", subjects - 1)
    assert set(at_size.values()) == {1}
    assert below["ADAE"] == 2
