"""Time helpers: closed windows `[T − W, T]`, ages, day coverage. Pure: T always arrives as an argument."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

DAY = timedelta(days=1)

_DELTAS: dict[float, timedelta] = {}
_DELTAS_MAX = 256  # distinct day counts remembered: the parameters name a few dozen


def days_delta(days: float) -> timedelta:
    """`timedelta(days=days)`, remembered: every patient asks for the same few windows, and building
    a timedelta costs more than the comparison it is for."""
    delta = _DELTAS.get(days)
    if delta is None:
        delta = timedelta(days=days)
        if len(_DELTAS) < _DELTAS_MAX:
            _DELTAS[days] = delta
    return delta


def within_days(t: datetime, at: datetime, days: float) -> bool:
    """True when `t` lies in the closed window `[at − days, at]`."""
    return at - days_delta(days) <= t <= at


def within_abs(t: datetime, center: datetime, delta: timedelta) -> bool:
    return abs(t - center) <= delta


def age_in_years(birth: date, on: date) -> int:
    """Whole years completed on `on` (RULES.md 1.1)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def covered_days(intervals: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> int:
    """Number of distinct calendar days in `[start, end]` covered by any of the intervals."""
    days: set[date] = set()
    for lo, hi in intervals:
        first, last = max(lo, start), min(hi, end)
        if last < first:
            continue
        d = first.date()
        while d <= last.date():
            days.add(d)
            d += DAY
    return len(days)


def merge_episodes(
    intervals: Iterable[tuple[datetime, datetime]], gap: timedelta
) -> list[tuple[datetime, datetime]]:
    """Merge overlapping or adjacent intervals, bridging gaps up to `gap` (RULES.md 1.3 episodes)."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(intervals):
        if merged and lo - merged[-1][1] <= gap:
            prev_lo, prev_hi = merged[-1]
            merged[-1] = (prev_lo, max(prev_hi, hi))
        else:
            merged.append((lo, hi))
    return merged


def fmt_num(value: float) -> str:
    """At most two decimals, no trailing zeros (RULES.md 1.5: numbers shown with at most 2 decimals)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_date(t: datetime | date) -> str:
    return t.strftime("%Y-%m-%d")
