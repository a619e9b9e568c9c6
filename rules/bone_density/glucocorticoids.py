"""Glucocorticoid exposure for `gio-bone-assessment-due` (RULES.md 2.4 and C4).

Only systemic glucocorticoids count: the route must be known to be systemic (oral, IV, IM, SC);
inhaled, nasal, topical, ophthalmic, otic, intra-articular and (by default) rectal products never do,
and neither does fludrocortisone (a mineralocorticoid). The dose threshold is a daily
prednisone-equivalent (PE) of `GC_DOSE` (2.5 mg): daily mg × PE factor. Oral budesonide has no
validated equivalence and an unreadable dose has no PE at all: both still count as qualifying
exposure, but as *uncertain* exposure, which caps the card at `info` on every hook (10.1 #11).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

from rules.facts import Facts
from rules.findings import Evidence
from rules.params import Parameters
from rules.presentation import medication_evidence
from rules.snapshot import MedicationExposure
from rules.windows import covered_days, fmt_date, fmt_num

GC_CLASS = "GC"
# Defence in depth: a code-set file that resolves ATC H02 as a whole would put fludrocortisone
# (H02AA, a mineralocorticoid) among the glucocorticoids; it never counts (C4 exclusions).
NEVER_GC = frozenset({"fludrocortisone"})
# PE doses are products of decimals (0.375 mg × 6.67): compare them rounded, not with float noise.
_PE_DECIMALS = 6


class Dose(StrEnum):
    """How a glucocorticoid record's daily dose relates to the GC_DOSE threshold."""

    QUALIFYING = "qualifying"  # daily PE known and ≥ GC_DOSE
    NO_EQUIVALENCE = "no-equivalence"  # dose known, no validated PE factor (oral budesonide)
    UNREADABLE = "unreadable"  # dose could not be read
    BELOW = "below"  # daily PE known and < GC_DOSE

    @property
    def counts(self) -> bool:
        return self is not Dose.BELOW

    @property
    def uncertain(self) -> bool:
        return self in (Dose.NO_EQUIVALENCE, Dose.UNREADABLE)


def is_systemic_glucocorticoid(m: MedicationExposure) -> bool:
    """GC class, not a mineralocorticoid, and a route known to be systemic (2.4)."""
    return GC_CLASS in m.classes and not (m.ingredients & NEVER_GC) and m.route == "systemic"


def daily_pe_mg(m: MedicationExposure) -> float | None:
    """Daily prednisone-equivalent dose in mg, or None when the dose or the equivalence is unknown."""
    if m.daily_dose_mg is None or m.pe_factor is None:
        return None
    return round(m.daily_dose_mg * m.pe_factor, _PE_DECIMALS)


def dose_class(m: MedicationExposure, params: Parameters) -> Dose:
    if m.daily_dose_mg is None:
        return Dose.UNREADABLE
    pe = daily_pe_mg(m)
    if pe is None:
        return Dose.NO_EQUIVALENCE
    return Dose.QUALIFYING if pe >= params.gc_dose else Dose.BELOW


def qualifying(m: MedicationExposure, params: Parameters) -> bool:
    """Systemic glucocorticoid at a dose that counts (known PE ≥ GC_DOSE, or PE unknown)."""
    return is_systemic_glucocorticoid(m) and dose_class(m, params).counts


@dataclass(frozen=True, slots=True)
class Coverage:
    """Qualifying glucocorticoid exposure found in a look-back window."""

    meds: tuple[MedicationExposure, ...]  # the records that made it qualify
    days: int  # distinct calendar days covered within the window
    uncertain: bool  # reaching the day count needed the budesonide / unreadable-dose records


def coverage(facts: Facts, params: Parameters, *, lookback: int, need: int) -> Coverage | None:
    """≥ `need` distinct days within the last `lookback` days covered by current or recent qualifying
    systemic glucocorticoid; dose-certain records are tried alone first so that uncertainty only
    caps the card when the certain records do not suffice."""
    recent = [
        m for m in facts.medications(GC_CLASS) if qualifying(m, params) and facts.exposed_within(m, lookback)
    ]
    if not recent and need > 0:
        return None  # the common case: no qualifying record, so no day is covered
    certain = [m for m in recent if not dose_class(m, params).uncertain]
    for meds, uncertain in ((certain, False), (recent, True)):
        days = _covered(facts, meds, lookback)
        if days >= need:
            shown = tuple(m for m in meds if _covered(facts, [m], lookback) > 0)
            return Coverage(shown, days, uncertain)
    return None


def _covered(facts: Facts, meds: Iterable[MedicationExposure], lookback: int) -> int:
    intervals = [iv for m in meds if (iv := facts.interval(m)) is not None]
    return covered_days(intervals, facts.at - timedelta(days=lookback), facts.at)


def uncertainty_notes(meds: Sequence[MedicationExposure], params: Parameters) -> list[str]:
    """The card's statement of why the dose threshold could not be checked, one per record."""
    notes: list[str] = []
    for m in meds:
        kind = dose_class(m, params)
        if kind is Dose.NO_EQUIVALENCE:
            notes.append(
                f"Dose equivalence uncertain: {m.display} has no validated prednisone equivalence; "
                "counted as qualifying exposure (card capped at info)."
            )
        elif kind is Dose.UNREADABLE:
            notes.append(
                f"The dose of {m.display} could not be read; counted as qualifying exposure "
                "(card capped at info)."
            )
    return notes


def gc_evidence(m: MedicationExposure, params: Parameters, label: str) -> Evidence:
    pe = daily_pe_mg(m)
    dose = dose_class(m, params)
    since = f", since {fmt_date(m.start)}" if m.start is not None else ""
    if pe is not None:
        note = f"prednisone-equivalent {fmt_num(pe)} mg/day (factor {fmt_num(m.pe_factor or 0)})"
    elif dose is Dose.UNREADABLE:
        note = "dose could not be read"
    else:
        note = "dose equivalence uncertain (no validated prednisone equivalence)"
    row = medication_evidence(
        m, label, note=f"{note}; route {m.route}; status {m.status}{since}", with_dose=True
    )
    return replace(
        row,
        normalised_value=pe,
        normalised_unit="mg/day prednisone-equivalent" if pe is not None else "",
    )
