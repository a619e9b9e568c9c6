"""Dose, route and dates of a medication record (RULES.md 1.3 end date, 2.4 route and daily dose).

* Route: `dosage.route` (SNOMED code, then its text), the dosage text, then the product display or
  the Medication's form ("Topical Cream", "Inhalation Suspension", "Oral Tablet"); None = unknown.
* Daily dose: `doseAndRate.doseQuantity` in mg/g/mcg, or tablets × the single strength in the
  product display ("predniSONE 5 MG Oral Tablet"), or mL × a single "X MG/ML"; times the
  administrations per day of `timing.repeat` (frequency / period; alternate days → 0.5) or of
  `timing.code` (BID, TID, ...). Anything else → None (unparseable).
* End date: boundsPeriod.end, validityPeriod.end, authoredOn + expectedSupplyDuration × (1 +
  numberOfRepeatsAllowed), effectivePeriod.end (statements), else authoredOn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from rules.codesets import CodeSets
from service.adapters import fhir_model as fm
from service.adapters.fhir_time import add_days, days_of, parse_datetime

UCUM = "http://unitsofmeasure.org"
MASS_MG = {
    "mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001, "μg": 0.001,
    "milligram": 1.0, "milligrams": 1.0, "gram": 1000.0, "grams": 1000.0, "microgram": 0.001,
    "micrograms": 0.001,
}  # fmt: skip
COUNT_UNITS = frozenset(
    {
        "", "1", "tablet", "tablets", "tab", "tabs", "{tablet}", "{tablets}", "{tbl}", "{tab}",
        "capsule", "capsules", "cap", "caps", "{capsule}", "{cap}", "{each}", "each", "ea",
    }
)  # fmt: skip
# HL7 v3 GTSAbbreviation timing codes → administrations per day.
TIMING_CODES = {
    "QD": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "AM": 1.0, "PM": 1.0, "QOD": 0.5,
    "Q4H": 6.0, "Q6H": 4.0, "Q8H": 3.0, "Q12H": 2.0, "WK": 1 / 7, "MO": 1 / 30,
}  # fmt: skip
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*MG\b(?!\s*/)")
_CONCENTRATION = re.compile(r"(\d+(?:\.\d+)?)\s*MG\s*/\s*ML\b")

RouteHolder = fm.Dosage | fm.AdministrationDosage


def dosages_of(use: fm.MedicationUse) -> list[RouteHolder]:
    if isinstance(use, fm.MedicationRequest):
        return list(use.dosage_instruction)
    if isinstance(use, fm.MedicationStatement):
        return list(use.dosage)
    return [use.dosage] if use.dosage is not None else []


def route_texts(dosages: Iterable[RouteHolder]) -> list[str]:
    out: list[str] = []
    for d in dosages:
        if d.route is not None:
            out += [t for t in [d.route.text, *(c.display for c in d.route.coding)] if t]
        if d.text:
            out.append(d.text)
    return out


def route(codesets: CodeSets, dosages: Sequence[RouteHolder], product_texts: Iterable[str]) -> str | None:
    """ "systemic" | "non-systemic" | None, from the most explicit source that says."""
    for d in dosages:
        if d.route is not None:
            for c in d.route.coding:
                found = codesets.route_of_code(c.system, c.code) if c.code else None
                if found is not None:
                    return found
    for text in [*route_texts(dosages), *product_texts]:
        found = codesets.route_of_text(text)
        if found is not None:
            return found
    return None


def _unit(q: fm.Quantity) -> str:
    code = q.code if q.system in (None, UCUM) else None
    return (code or q.unit or q.code or "").strip().lower()


def quantity_mg(q: fm.Quantity | None, display: str) -> float | None:
    """One dose in mg: a mass, tablets × the product's single strength, or mL × "X MG/ML"."""
    if q is None or q.value is None:
        return None
    unit = _unit(q)
    if unit in MASS_MG:
        return q.value * MASS_MG[unit]
    upper = display.upper()
    if unit in ("ml", "milliliter", "millilitre"):
        concentrations = _CONCENTRATION.findall(upper)
        return q.value * float(concentrations[0]) if len(concentrations) == 1 else None
    if unit in COUNT_UNITS and " / " not in display:
        strengths = _STRENGTH.findall(upper)
        return q.value * float(strengths[0]) if len(strengths) == 1 else None
    return None


def per_day(timing: fm.Timing | None) -> float | None:
    """Administrations per day from timing.repeat (frequency / period) or timing.code."""
    if timing is None:
        return None
    r = timing.repeat
    if r is not None and r.period is not None:
        days = days_of(r.period, r.period_unit)
        if not days:
            return None
        return (r.frequency if r.frequency is not None else 1) / days
    if timing.code is not None:
        for c in timing.code.coding:
            if c.code and c.code.upper() in TIMING_CODES:
                return TIMING_CODES[c.code.upper()]
    return None


def daily_dose_mg(dosages: Iterable[RouteHolder], display: str) -> float | None:
    for d in dosages:
        if not isinstance(d, fm.Dosage):
            continue
        times = per_day(d.timing)
        for dr in d.dose_and_rate:
            mg = quantity_mg(dr.dose_quantity, display)
            if mg is not None and times is not None:
                return mg * times
    return None


def _bounds(dosages: Iterable[fm.Dosage]) -> fm.Period | None:
    for d in dosages:
        if d.timing is not None and d.timing.repeat is not None and d.timing.repeat.bounds_period:
            return d.timing.repeat.bounds_period
    return None


def _time(text: str | None) -> datetime | None:
    return None if text is None else parse_datetime(text)


def _supply_days(req: fm.MedicationRequest) -> float | None:
    dispense = req.dispense_request
    if dispense is None or dispense.expected_supply_duration is None:
        return None
    supply = dispense.expected_supply_duration
    days = days_of(supply.value, supply.code or supply.unit)
    if days is None:
        return None
    return days * (1 + (dispense.number_of_repeats_allowed or 0))


def request_dates(req: fm.MedicationRequest) -> tuple[datetime | None, datetime | None]:
    """(start, end) of a MedicationRequest; end per RULES.md 1.3."""
    bounds = _bounds(req.dosage_instruction)
    authored = _time(req.authored_on)
    start = _time(bounds.start if bounds else None) or authored
    if bounds is not None and bounds.end is not None:
        return start, parse_datetime(bounds.end)
    validity = req.dispense_request.validity_period if req.dispense_request else None
    if validity is not None and validity.end is not None:
        return start, parse_datetime(validity.end)
    supply = _supply_days(req)
    if authored is not None and supply is not None:
        return start, add_days(authored, supply)
    return start, authored


def statement_dates(st: fm.MedicationStatement) -> tuple[datetime | None, datetime | None]:
    bounds = _bounds(st.dosage)
    period = st.effective_period
    asserted = _time(st.date_asserted)
    start = _time(period.start if period else None) or _time(st.effective_date_time)
    start = start or _time(bounds.start if bounds else None) or asserted
    for text in (bounds.end if bounds else None, period.end if period else None, st.effective_date_time):
        if text is not None:
            return start, parse_datetime(text)
    return start, asserted


def _period_days(period: fm.Period | None) -> float | None:
    if period is None or period.start is None or period.end is None:
        return None
    return (parse_datetime(period.end) - parse_datetime(period.start)).total_seconds() / 86400


def planned_days(req: fm.MedicationRequest) -> float | None:
    """Planned duration of a draft: supply × (1 + repeats), else the bounds or validity period."""
    supply = _supply_days(req)
    if supply is not None:
        return supply
    validity = req.dispense_request.validity_period if req.dispense_request else None
    for days in (_period_days(_bounds(req.dosage_instruction)), _period_days(validity)):
        if days is not None:
            return days
    for d in req.dosage_instruction:
        repeat = d.timing.repeat if d.timing else None
        if repeat is not None and repeat.bounds_duration is not None:
            q = repeat.bounds_duration
            return days_of(q.value, q.code or q.unit)
    return None
