"""FHIR date, dateTime and instant strings → timezone-aware datetimes.

FHIR allows partial dates ("2018", "2018-09", "2018-09-21"); they are read as the start of that
period, in UTC. A time without a zone is not valid FHIR; it is read as UTC rather than rejected.
Anything else raises `ValueError` with the offending text.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?$")
# Durations in days per UCUM/FHIR time unit (months and years as calendar averages).
UNIT_DAYS: dict[str, float] = {
    "s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0,
    "day": 1.0, "days": 1.0, "week": 7.0, "weeks": 7.0, "month": 30.0, "months": 30.0,
    "year": 365.0, "years": 365.0, "hour": 1 / 24, "hours": 1 / 24,
}  # fmt: skip


# Parsed values by text: a patient's results share their draw times, and datetimes are immutable.
_PARSED: dict[str, datetime] = {}
_PARSED_MAX = 4096  # emptied when full: a bounded memo, not a store


def parse_datetime(text: str) -> datetime:
    """A FHIR date/dateTime/instant as an aware datetime (partial dates → first instant, UTC)."""
    value = _PARSED.get(text)
    if value is None:
        value = _parse_datetime(text)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[text] = value
    return value


def _parse_datetime(text: str) -> datetime:
    if len(text) <= 7:
        match = _PARTIAL.match(text)
        if match is None:
            raise ValueError(f"not a FHIR dateTime: {text!r}")
        return datetime(int(match[1]), int(match[2] or 1), 1, tzinfo=UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a FHIR dateTime: {text!r}") from None
    if not _full_date(text) or (len(text) > 10 and text[10:11] != "T"):
        raise ValueError(f"not a FHIR dateTime: {text!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _full_date(text: str) -> bool:
    """YYYY-MM-DD at the start: `fromisoformat` also takes ISO forms FHIR does not (2026-W03-4, a
    week date; 20260115, the basic format)."""
    return len(text) >= 10 and text[4:5] == "-" and text[7:8] == "-"


def parse_date(text: str) -> date:
    """A FHIR date (birthDate): full or partial; a time part is not allowed."""
    if len(text) > 10:
        raise ValueError(f"not a FHIR date: {text!r}")
    try:
        # `_parse_datetime`, not the memo of `parse_datetime`: birth dates are seldom shared, and
        # would only push draw times out of it.
        return _parse_datetime(text).date()
    except ValueError:
        raise ValueError(f"not a FHIR date: {text!r}") from None


def days_of(value: float | None, unit: str | None) -> float | None:
    """A duration in days, or None when the value or the unit is missing or unknown."""
    if value is None or unit is None:
        return None
    factor = UNIT_DAYS.get(unit)
    if factor is None:
        factor = UNIT_DAYS.get(unit.strip().lower())
    return None if factor is None else value * factor


def add_days(t: datetime, days: float) -> datetime:
    return t + timedelta(days=days)
