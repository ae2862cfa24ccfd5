from eap.formatting import percent, round_half_up


def test_percentages_round_half_up_as_the_publication_prints() -> None:
    # Published: 9/80 = 11.25 -> 11.3; 5/80 = 6.25 -> 6.3; 17/80 = 21.25 -> 21.3; 47/80 -> 58.8.
    assert [percent(n, 80) for n in (9, 5, 17, 47, 48)] == ["11.3", "6.3", "21.3", "58.8", "60.0"]
    assert percent(1, 0) == "NE"
    assert str(round_half_up(2.675, 2)) == "2.68"
