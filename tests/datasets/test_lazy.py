"""Datasets read lazily from Parquet (eap.datasets.lazy) give what the eager reader
gives, and the duplicate-key test by hashes (eap.datasets.validate.duplicated) finds
the rows a plain comparison of the keys finds."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from eap.datasets.io import read_dataset, write_dataset
from eap.datasets.lazy import LazyDatasets, Projected, Subjects, columns, scan, subject_batches
from eap.datasets.model import Dataset
from eap.datasets.validate import duplicated, open_datasets, read_datasets
from tests.conftest import PILOT


def test_duplicated_marks_every_row_whose_key_another_row_shares() -> None:
    # By hand: rows 0 and 2 share (x, 1); rows 4 and 5 share (null, null); row 6 has
    # y like row 1 but another B.
    frame = pl.DataFrame(
        {"A": ["x", "y", "x", "z", None, None, "y"], "B": [1, 2, 1, 3, None, None, 5]}
    )
    assert duplicated(frame, ["A", "B"]).to_list() == [True, False, True, False, True, True, False]


def test_duplicated_without_shared_keys_marks_nothing() -> None:
    frame = pl.DataFrame({"USUBJID": ["01", "01", "02"], "EXSEQ": [1, 2, 1]})
    assert duplicated(frame, ["USUBJID", "EXSEQ"]).to_list() == [False, False, False]


def test_duplicated_agrees_with_counting_the_keys_in_python() -> None:
    rng = random.Random(7)
    subjects = [f"S{rng.randrange(300)}" for _ in range(5000)]
    seqs = [rng.randrange(20) for _ in range(5000)]
    counts = Counter(zip(subjects, seqs, strict=True))
    expected = [counts[key] > 1 for key in zip(subjects, seqs, strict=True)]
    frame = pl.DataFrame({"USUBJID": subjects, "SEQ": seqs})
    assert duplicated(frame, ["USUBJID", "SEQ"]).to_list() == expected
    assert 0 < sum(expected) < 5000  # both kinds of row are there


@pytest.fixture(scope="module")
def pilot_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDISC pilot's DM, AE, EX and DS as Parquet, and its SV as XPT."""
    folder = tmp_path_factory.mktemp("pilot")
    for name in ("dm", "ae", "ex", "ds"):
        write_dataset(read_dataset(PILOT / "sdtm" / f"{name}.xpt"), folder / f"{name}.parquet")
    (folder / "sv.xpt").write_bytes((PILOT / "sdtm" / "sv.xpt").read_bytes())
    return folder


def test_lazy_datasets_give_what_the_eager_reader_gives(pilot_parquet: Path) -> None:
    eager, eager_origins, _ = read_datasets(pilot_parquet)
    lazy, lazy_origins, unreadable = open_datasets(pilot_parquet)
    assert isinstance(lazy, LazyDatasets)
    assert unreadable == []
    assert list(lazy) == list(eager) == ["AE", "DM", "DS", "EX", "SV"]
    assert lazy_origins == eager_origins
    for name, ds in eager.items():
        read = lazy[name]
        assert (read.name, read.label, read.columns) == (ds.name, ds.label, ds.columns)
        assert_frame_equal(read.frame, ds.frame)  # values and types
        assert_frame_equal(scan(lazy, name).collect(), ds.frame)
        assert columns(lazy, name) == ds.frame.columns


def test_a_lookup_is_read_from_the_file_each_time_and_not_kept(pilot_parquet: Path) -> None:
    lazy, _, _ = open_datasets(pilot_parquet)
    assert lazy["AE"] is not lazy["AE"]  # two reads, nothing held
    assert lazy["SV"] is lazy["SV"]  # XPT is read once and held


def test_a_projection_holds_only_the_variables_asked_for_in_the_files_order(
    pilot_parquet: Path,
) -> None:
    lazy, _, _ = open_datasets(pilot_parquet)
    eager, _, _ = read_datasets(pilot_parquet)
    wanted = {"AESTDTC", "USUBJID", "NOSUCHVAR"}
    for source in (lazy, eager):
        ae = Projected(source, lambda *_: wanted)["AE"]
        assert ae.frame.columns == ["USUBJID", "AESTDTC"]
        assert [c.name for c in ae.columns] == ["USUBJID", "AESTDTC"]
        assert_frame_equal(ae.frame, eager["AE"].frame.select("USUBJID", "AESTDTC"))


def test_replacing_a_dataset_keeps_the_others_lazy(pilot_parquet: Path) -> None:
    lazy, _, _ = open_datasets(pilot_parquet)
    small = Dataset.from_frame("DM", pl.DataFrame({"USUBJID": ["01"]}))
    changed = lazy.replaced({"DM": small})
    assert changed["DM"] is small
    assert list(changed) == list(lazy)
    assert changed["AE"] is not changed["AE"]


def test_a_damaged_parquet_file_is_an_unreadable_file_finding(tmp_path: Path) -> None:
    (tmp_path / "ae.parquet").write_bytes(b"PAR1 not really")
    lazy, _, unreadable = open_datasets(tmp_path)
    assert list(lazy) == []
    assert [f.check for f in unreadable] == ["unreadable-file"]
    assert "ae.parquet" in (unreadable[0].file or "")


@pytest.mark.parametrize(
    ("values", "dtype"),
    [([1.0, 2.0, None], pl.Int64), ([1.0, 2.5, None], pl.Float64)],
)
def test_a_double_the_specification_declares_integer_is_int64_only_when_all_are_whole(
    tmp_path: Path, values: list[float | None], dtype: pl.DataType
) -> None:
    # SDTM's AESEQ is an integer (specs.toml); stored as doubles, it is read as Int64
    # when every value is whole (1.0, 2.0) and left double otherwise (2.5).
    frame = pl.DataFrame({"USUBJID": ["01", "01", "02"], "AESEQ": values})
    pl.DataFrame(frame).write_parquet(tmp_path / "ae.parquet")
    lazy, _, _ = open_datasets(tmp_path)
    eager, _, _ = read_datasets(tmp_path)
    assert lazy["AE"].frame.schema["AESEQ"] == dtype
    assert scan(lazy, "AE").collect_schema()["AESEQ"] == dtype
    assert lazy.schema("AE")["AESEQ"] == dtype
    assert_frame_equal(lazy["AE"].frame, eager["AE"].frame)
    assert lazy["AE"].columns == eager["AE"].columns


def _damaged_ae() -> Dataset:
    """The CDISC pilot's AE with a finding of every dataset check, in variables that
    validation in parts reads in different parts (AESEQ with the keys; AESTDTC and
    AEENDTC with them as a date pair; AESER, AESEV, AEDECOD, AESTDY apart; AEACN gone)."""
    ae = read_dataset(PILOT / "sdtm" / "ae.xpt")
    frame = (
        ae.frame.with_row_index("_I")
        .with_columns(
            pl.when(pl.col("_I") == 3)
            .then(pl.lit("2013-02-30"))
            .otherwise(pl.col("AESTDTC"))
            .alias("AESTDTC"),
            pl.when(pl.col("_I") == 5)
            .then(pl.lit("2000-01-01"))
            .otherwise(pl.col("AEENDTC"))
            .alias("AEENDTC"),
            pl.when(pl.col("_I") == 7)
            .then(pl.lit("MAYBE"))
            .otherwise(pl.col("AESER"))
            .alias("AESER"),
            pl.when(pl.col("_I") == 8)
            .then(pl.lit("EXTREME"))
            .otherwise(pl.col("AESEV"))
            .alias("AESEV"),
            pl.when(pl.col("_I") == 9)
            .then(pl.lit(None))
            .otherwise(pl.col("AEDECOD"))
            .alias("AEDECOD"),
            # AEDTC comes before AESTDTC in the file but is read in a later part.
            pl.when(pl.col("_I") == 4)
            .then(pl.lit("2013-13-01"))
            .otherwise(pl.col("AEDTC"))
            .alias("AEDTC"),
            pl.when(pl.col("_I") == 11).then(pl.lit(1.5)).otherwise(pl.col("AESEQ")).alias("AESEQ"),
            pl.when(pl.col("_I") == 12)
            .then(pl.lit(float("nan")))
            .otherwise(pl.col("AESTDY"))
            .alias("AESTDY"),
        )
        .drop("_I", "AEACN")
    )
    # The first record again at the end: a key two records share.
    return Dataset.from_frame("AE", pl.concat([frame, frame.head(1)]), label=ae.label)


@pytest.mark.parametrize("values", [16_000_000, 1])  # four variables a part; one
def test_validating_in_parts_finds_what_validating_whole_finds_in_the_same_order(
    pilot_parquet: Path, tmp_path: Path, values: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eap.datasets import validate
    from eap.datasets.validate import validate_dataset, validate_in_parts

    monkeypatch.setattr(validate, "PART_VALUES", values)

    damaged = _damaged_ae()
    write_dataset(damaged, tmp_path / "ae.parquet")
    lazy, _, _ = open_datasets(tmp_path)
    assert lazy.reads_from_file("AE")
    whole = validate_dataset(read_dataset(tmp_path / "ae.parquet"))
    checks = {f.check for f in whole}
    # Every kind of dataset finding, so that their order across parts is tested.
    assert {"iso8601", "end-before-start", "codelist", "required-value-missing"} <= checks
    assert {"duplicate-key", "not-a-number", "missing-expected-variable", "wrong-type"} <= checks
    assert validate_in_parts(lazy, "AE") == whole
    pilot, _, _ = open_datasets(pilot_parquet)
    for name in ("AE", "DM", "DS", "EX"):
        assert validate_in_parts(pilot, name) == validate_dataset(
            read_dataset(pilot_parquet / f"{name.lower()}.parquet")
        ), name


def test_subject_batches_cover_every_text_in_ranges_of_the_size_asked() -> None:
    ids = pl.Series(["01-003", "01-001", "01-002", None, "01-004", "01-002"])
    # Four distinct subjects: a batch of four is one range, of three is two.
    assert subject_batches(ids, 4) == [(None, None)]
    assert subject_batches(ids, 3) == [(None, "01-004"), ("01-004", None)]
    assert subject_batches(ids, 1) == [
        (None, "01-002"),
        ("01-002", "01-003"),
        ("01-003", "01-004"),
        ("01-004", None),
    ]


def test_subject_views_split_each_dataset_by_usubjid_keeping_rows_and_metadata(
    pilot_parquet: Path,
) -> None:
    lazy, _, _ = open_datasets(pilot_parquet)
    eager, _, _ = read_datasets(pilot_parquet)
    ranges = subject_batches(eager["DM"].frame["USUBJID"], 50)
    for source in (lazy, eager):
        for name in ("AE", "EX", "SV"):
            parts = [Subjects(source, start, stop)[name] for start, stop in ranges]
            whole = eager[name]
            assert all(p.columns == whole.columns and p.label == whole.label for p in parts)
            # Each record in exactly one part, in its order within the dataset.
            assert sum(p.n_rows for p in parts) == whole.n_rows
            for (start, stop), part in zip(ranges, parts, strict=True):
                ids = part.frame["USUBJID"]
                assert start is None or (ids >= start).all()
                assert stop is None or (ids < stop).all()
                expected = whole.frame.filter(pl.col("USUBJID").is_in(ids.unique().implode()))
                assert_frame_equal(part.frame, expected)


def test_records_without_usubjid_go_with_the_first_batch_and_other_datasets_whole() -> None:
    ae = Dataset.from_frame(
        "AE", pl.DataFrame({"USUBJID": ["B", None, "A", "C"], "N": [1, 2, 3, 4]})
    )
    ts = Dataset.from_frame("TS", pl.DataFrame({"TSPARMCD": ["AGEMIN"]}))
    first, second = Subjects({"AE": ae, "TS": ts}, None, "B"), Subjects({"AE": ae}, "B", None)
    assert first["AE"].frame["N"].to_list() == [2, 3]
    assert second["AE"].frame["N"].to_list() == [1, 4]
    assert first["TS"].frame.equals(ts.frame)


def test_parts_hold_fewer_variables_once_four_would_pass_the_values_allowed() -> None:
    from eap.datasets import specs
    from eap.datasets.validate import PART_VALUES, variable_parts

    spec = specs.get("AE")
    assert spec is not None
    names = [v.name for v in spec.variables]
    together = {*spec.keys, *(d for pair in spec.date_pairs for d in pair)}
    rest = [n for n in names if n not in together]

    def widest(records: int) -> int:
        parts = variable_parts(names, spec, records)
        assert sorted(n for p in parts for n in p) == sorted(names)  # each once
        return max(len(p) for p in parts if not set(p) & together)

    assert len(rest) > 4
    assert widest(PART_VALUES // 4) == 4  # 4 x records = PART_VALUES: allowed
    assert widest(PART_VALUES // 4 + 1) == 3
    assert widest(PART_VALUES // 2) == 2
    assert widest(PART_VALUES // 2 + 1) == 1
    assert widest(PART_VALUES * 10) == 1


def test_keys_and_date_pairs_sharing_a_variable_are_read_together() -> None:
    from eap.datasets import specs
    from eap.datasets.validate import variable_parts

    spec = specs.DatasetSpec(
        name="XX",
        standard="SDTM",
        label="",
        variables=(),
        keys=("USUBJID", "XXSTDTC"),
        date_pairs=(("XXSTDTC", "XXENDTC"), ("XXDTC", "XXEVLDTC")),
    )
    names = ["USUBJID", "XXTERM", "XXSTDTC", "XXENDTC", "XXDTC", "XXEVLDTC"]
    assert variable_parts(names, spec) == [
        ["USUBJID", "XXSTDTC", "XXENDTC"],
        ["XXDTC", "XXEVLDTC"],
        ["XXTERM"],
    ]


def test_subject_views_number_each_record_by_its_row_in_the_whole_dataset(
    pilot_parquet: Path,
) -> None:
    lazy, _, _ = open_datasets(pilot_parquet)
    eager, _, _ = read_datasets(pilot_parquet)
    ranges = subject_batches(eager["DM"].frame["USUBJID"], 40)
    for source in (lazy, eager):  # numbered by the Parquet reader, and by Polars
        for name in ("AE", "SV"):
            whole = eager[name].frame.with_row_index("_ROW", offset=1)
            for start, stop in ranges:
                part = Subjects(source, start, stop, row_numbers="_ROW")[name]
                assert part.frame.columns == [*eager[name].frame.columns, "_ROW"]
                assert part.columns[-1].name == "_ROW"
                expected = whole.filter(pl.col("_ROW").is_in(part.frame["_ROW"].implode()))
                assert_frame_equal(part.frame, expected.select(part.frame.columns))
                assert part.frame["_ROW"].is_sorted()
