"""Move every date of FHIR JSON by a time delta (sample patients are dated against a fixed T)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?")
_NOT_DATES = frozenset({"id", "reference", "fullUrl"})


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def shift_dates(value: Any, delta: timedelta) -> Any:
    """Every date/dateTime string moved by `delta`; dates stay dates, date-times become UTC."""
    if isinstance(value, dict):
        return {k: v if k in _NOT_DATES else shift_dates(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, delta) for v in value]
    if isinstance(value, str) and _DATE.fullmatch(value):
        moved = _instant(value) + delta
        if len(value) == 10:
            return moved.date().isoformat()
        return moved.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return value
