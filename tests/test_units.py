import pytest

from edgekit.units import parse_duration_ms, parse_size


@pytest.mark.parametrize("text,expected", [
    ("64 KB", 64_000), ("64 KiB", 65_536), ("1.5 MB", 1_500_000), ("300", 300), (1024, 1024),
])
def test_parse_size_reads_decimal_and_binary_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text,expected", [("2 ms", 2.0), ("1.5ms", 1.5), ("0.5 s", 500.0), ("3", 3.0), (4, 4.0)])
def test_parse_duration_returns_milliseconds(text, expected):
    assert parse_duration_ms(text) == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["lots", "64 XB", -1, True])
def test_parse_size_rejects_garbage_with_a_hint(bad):
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


def test_parse_duration_rejects_garbage():
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms("soon")


@pytest.mark.parametrize("bad", ["12 parsecs", "5 kbps", "10 KB/s"])
def test_parse_size_refuses_unit_words_that_only_start_like_a_unit(bad):
    with pytest.raises(ValueError, match="not a size"):
        parse_size(bad)
