"""A result's own reference range, converted to the canonical unit (RULES.md 3.4 items 1 and 2).

Ranges whose `appliesTo`/`age` exclude the patient are skipped; so are ranges whose `appliesTo`
cannot be evaluated here (pregnancy, race, ...): they do not demonstrably apply. Among the rest,
`type` normal (or absent) is preferred. A bound converts only in a recognised unit (a bound without
any unit is not convertible); a `text`-only range "a–b" is read in the result's own unit, or in
the unit written after it. The sanity check of 3.4 item 3 happens in `rules.ranges`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

from rules.units import UnitTable, factor_for, to_canonical
from rules.windows import age_in_years
from service.adapters import fhir_model as fm

UCUM = "http://unitsofmeasure.org"
_TEXT_RANGE = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|–|—|to)\s*(-?\d+(?:\.\d+)?)\s*([^\d\s].*)?$", re.IGNORECASE
)
_SEX_WORDS = {
    "male": "male", "men": "male", "man": "male", "248153007": "male",
    "female": "female", "women": "female", "woman": "female", "248152002": "female",
}  # fmt: skip


def _sex_of(concept: fm.CodeableConcept) -> str | None:
    """The sex an appliesTo concept names, "?" when it names something else, None when empty."""
    words = [c.code or "" for c in concept.coding] + [concept.text or ""]
    words += [c.display or "" for c in concept.coding]
    named = {_SEX_WORDS.get(w.strip().lower()) for w in words if w.strip()}
    named.discard(None)
    if len(named) == 1:
        return named.pop()
    return "?" if any(w.strip() for w in words) else None


_AGE_UNITS = {
    "a": "a", "y": "a", "yr": "a", "year": "a", "years": "a", "mo": "mo", "month": "mo",
    "months": "mo", "wk": "wk", "week": "wk", "weeks": "wk", "d": "d", "day": "d", "days": "d",
}  # fmt: skip
_DAYS_PER = {"mo": 30.4375, "wk": 7.0, "d": 1.0}


def _age_in(unit: str, birth: date, on: date) -> float | None:
    """Completed age in `unit` (whole years, months, weeks or days)."""
    if unit == "a":
        return float(age_in_years(birth, on))
    per = _DAYS_PER.get(unit)
    return None if per is None else float((on - birth).days // per)


def _age_applies(age: fm.Range, birth: date | None, on: date) -> bool:
    for bound, is_low in ((age.low, True), (age.high, False)):
        if bound is None or bound.value is None:
            continue
        unit = _AGE_UNITS.get((bound.code or bound.unit or "").strip().lower())
        years = None if unit is None or birth is None else _age_in(unit, birth, on)
        if years is None:
            return False  # an age limit we cannot check does not demonstrably apply
        if (is_low and years < bound.value) or (not is_low and years > bound.value):
            return False
    return True


def _applies(rr: fm.ReferenceRange, sex: str, birth: date | None, at: datetime) -> bool:
    for concept in rr.applies_to:
        named = _sex_of(concept)
        if named is not None and named != sex:
            return False  # another sex, or a population we cannot check (pregnancy, race, ...)
    return rr.age is None or _age_applies(rr.age, birth, at.date())


def _is_normal(rr: fm.ReferenceRange) -> bool:
    if rr.type is None:
        return True
    codes = {(c.code or "").lower() for c in rr.type.coding} | {(rr.type.text or "").lower()}
    return "normal" in codes or "normal range" in codes


def _bound(table: UnitTable, q: fm.Quantity | None) -> float | None:
    if q is None or q.value is None:
        return None
    system, unit = q.system, q.unit
    code = q.code if system is None or system == UCUM else None
    if code is None and unit is None:
        return None  # no unit at all: not "a convertible unit" (3.4 item 1)
    factor = table.memo.get((code, unit))  # `to_canonical`, with `factor_for`'s memo read first
    if factor is None:
        factor = factor_for(table, code, unit)
    return None if factor is None else q.value * factor


def _from_text(table: UnitTable, text: str, result: fm.Quantity) -> tuple[float | None, float | None]:
    match = _TEXT_RANGE.match(text)
    if match is None:
        return None, None
    low, high = float(match[1]), float(match[2])
    unit = (match[3] or "").strip()
    code, printed = (None, unit) if unit else (result.code, result.unit)
    return to_canonical(table, low, code, printed), to_canonical(table, high, code, printed)


def lab_range(
    ranges: Sequence[fm.ReferenceRange],
    table: UnitTable,
    result: fm.Quantity,
    sex: str,
    birth: date | None,
    at: datetime,
) -> tuple[float | None, float | None]:
    """(low, high) of the lab's own range in the canonical unit; (None, None) = use the defaults."""
    if len(ranges) == 1:
        rr = ranges[0]
        if not rr.applies_to and rr.age is None and rr.type is None:
            # The common shape: one range, for everyone, normal by default. It applies and it is
            # the preferred one, so there is nothing to choose (the loop below, for one range).
            low, high = _bound(table, rr.low), _bound(table, rr.high)
            if low is None and high is None and rr.text:
                return _from_text(table, rr.text, result)
            return low, high
    usable = [rr for rr in ranges if _applies(rr, sex, birth, at)]
    normal = [rr for rr in usable if _is_normal(rr)]
    for rr in normal or usable:
        low, high = _bound(table, rr.low), _bound(table, rr.high)
        if low is None and high is None and rr.text:
            low, high = _from_text(table, rr.text, result)
        if low is not None or high is not None:
            return low, high
    return None, None
