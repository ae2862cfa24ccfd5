from eap.formatting import percent, round_half_up, significant


def test_percentages_round_half_up_as_the_publication_prints() -> None:
    # Published: 9/80 = 11.25 -> 11.3; 5/80 = 6.25 -> 6.3; 17/80 = 21.25 -> 21.3; 47/80 -> 58.8.
    assert [percent(n, 80) for n in (9, 5, 17, 47, 48)] == ["11.3", "6.3", "21.3", "58.8", "60.0"]
    assert percent(1, 0) == "NE"
    assert str(round_half_up(2.675, 2)) == "2.68"


def test_estimates_with_their_ci_keep_three_significant_digits() -> None:
    from eap.formatting import significant

    assert significant([0.26, 0.05, 0.9]) == ["0.26", "0.05", "0.90"]
    assert significant([8.870637, 7.063655, 10.74333]) == ["8.87", "7.06", "10.74"]
    assert significant([13.73306, 11.13758, 20.43532]) == ["13.7", "11.1", "20.4"]
    assert significant([None, 38.47228, None]) == ["NE", "38.5", "NE"]
    assert significant([70.0, 28.0, 110.0]) == ["70", "28", "110"]
    assert significant([1234.5]) == ["1235"]  # whole digits are never rounded away
    assert significant([0.11297, 0.039645, 0.229207]) == ["0.1130", "0.0396", "0.2292"]
    assert significant([0.99996]) == ["1"] and significant([0.0]) == ["0"]
    assert significant([2.675]) == ["2.68"]  # half up, as SAS rounds


def test_values_beyond_28_digits_round_without_a_decimal_error() -> None:
    """Decimal's default context holds 28 digits; 1e28 at one decimal needs 31. Written
    out by hand: 1e28 is a one followed by 28 zeros."""
    assert format(round_half_up(1e28, 1), "f") == "1" + "0" * 28 + ".0"
    assert format(round_half_up(9.99e27, 1), "f") == "999" + "0" * 25 + ".0"
    # 2.5 needs one decimal for three significant digits; the values share it.
    assert significant([1e28, 2.5, None]) == ["1" + "0" * 28 + ".0", "2.5", "NE"]
