import pytest

from agenttasks.core.item_ranges import format_ranges, items_at, parse_ranges


def test_ranges_round_trip_in_the_jobs_notation() -> None:
    assert parse_ranges("0-2,5,7-9") == [0, 1, 2, 5, 7, 8, 9]
    assert format_ranges([9, 8, 7, 5, 0, 1, 2]) == "0-2,5,7-9"
    assert format_ranges([3, 4]) == "3,4"  # the Job writes a pair as two numbers
    assert format_ranges([]) == "" and parse_ranges("") == [] and parse_ranges(None) == []
    assert parse_ranges("4,4,2") == [2, 4]


@pytest.mark.parametrize("text", ["a", "3-1", "-1", "1-", "1-2-3"])
def test_malformed_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ranges(text)


def test_a_range_bigger_than_the_limit_is_refused_before_it_is_built() -> None:
    with pytest.raises(ValueError, match="more than 10"):
        parse_ranges("0-999999999", limit=10)


def test_completion_indexes_map_back_to_item_numbers() -> None:
    assert items_at("0,2", [3, 7, 12]) == [3, 12]
    assert items_at("1-5", [3, 7]) == [7]  # beyond the attempt's items: ignored
