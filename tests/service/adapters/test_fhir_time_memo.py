"""`parse_datetime` remembers what it parsed: the same values, errors every time, bounded memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from service.adapters import fhir_time
from service.adapters.fhir_time import parse_date, parse_datetime

VALID = {
    "2019": datetime(2019, 1, 1, tzinfo=UTC),
    "2019-05": datetime(2019, 5, 1, tzinfo=UTC),
    "2019-05-03": datetime(2019, 5, 3, tzinfo=UTC),
    "2019-05-03T10:22:11Z": datetime(2019, 5, 3, 10, 22, 11, tzinfo=UTC),
    "2019-05-03T10:22:11-04:00": datetime(2019, 5, 3, 10, 22, 11, tzinfo=timezone(timedelta(hours=-4))),
    "2019-05-03T10:22:11": datetime(2019, 5, 3, 10, 22, 11, tzinfo=UTC),
}


@pytest.mark.parametrize(("text", "expected"), list(VALID.items()))
def test_a_text_parsed_again_gives_the_same_value(text: str, expected: datetime) -> None:
    first, again = parse_datetime(text), parse_datetime(text)
    assert first == again == expected
    assert again.utcoffset() == expected.utcoffset()


BAD = ["2025-13-45", "20190503", "2019-05-03 10:22", "May 2019", "", "2019-W18-5", "2019-W18-5T10:22:11Z"]


@pytest.mark.parametrize("text", BAD)
def test_a_bad_text_fails_every_time(text: str) -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="not a FHIR dateTime"):
            parse_datetime(text)


@pytest.mark.parametrize("text", ["2019-W18-5", "2019-W18", "20190503", "2019-05-03T10:22:11Z", "1950-1-1"])
def test_a_date_that_is_not_a_fhir_date_is_refused(text: str) -> None:
    """ISO 8601 forms that `datetime.fromisoformat` takes but FHIR's date does not (a week date)."""
    with pytest.raises(ValueError, match="not a FHIR date"):
        parse_date(text)


def test_a_date_with_a_time_is_still_not_a_date_once_its_datetime_is_remembered() -> None:
    parse_datetime("2019-05-03T10:22:11Z")
    with pytest.raises(ValueError, match="not a FHIR date"):
        parse_date("2019-05-03T10:22:11Z")


def test_memory_is_bounded_and_values_stay_right_beyond_it() -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    for n in range(fhir_time._PARSED_MAX + 100):
        t = start + timedelta(minutes=n)
        assert parse_datetime(t.strftime("%Y-%m-%dT%H:%M:%SZ")) == t
    assert len(fhir_time._PARSED) <= fhir_time._PARSED_MAX
