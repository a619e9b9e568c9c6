"""MedicationRequest/Statement/Administration → `MedicationExposure` (RULES.md 1.3, 2.4, 10.1 #13).

Ingredients come from the RxNorm code (ingredient or known product), the ATC code, or, when no
code resolves, the ingredient names in the text (`text_match`). Records that resolve to no known
ingredient are not relevant and are dropped silently; relevant records with an ignored status are
logged (`status-<status>`). Dose, route and dates are read by `service.adapters.dosage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TypedDict

from rules.codesets import CodeSets
from rules.findings import Ignored
from rules.snapshot import Hook, MedicationExposure
from service.adapters import dosage
from service.adapters import fhir_model as fm
from service.adapters.fhir_time import parse_datetime

IGNORED_STATUSES = frozenset({"entered-in-error", "cancelled", "not-taken", "unknown", "draft"})
IGNORED_ADMINISTRATION = IGNORED_STATUSES | {"not-done"}
ORDER_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order"})
_KIND = {
    fm.MedicationRequest: "request",
    fm.MedicationStatement: "statement",
    fm.MedicationAdministration: "administration",
}


# `_codes` and `_texts` run for every medication record, most of which resolve to nothing: plain
# loops, not generators and unpacked lists.
def _codes(concepts: Iterable[fm.CodeableConcept | None]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for cc in concepts:
        if cc is not None:
            for c in cc.coding:
                if c.code:
                    out.append((c.system or "", c.code))
    return tuple(out)


def _texts(concepts: Iterable[fm.CodeableConcept | None]) -> tuple[str, ...]:
    """Each concept's text, then its codings' displays (the empty ones left out)."""
    out: list[str] = []
    for cc in concepts:
        if cc is not None:
            if cc.text:
                out.append(cc.text)
            for c in cc.coding:
                if c.display:
                    out.append(c.display)
    return tuple(out)


@lru_cache(maxsize=4096)
def resolve_ingredients(
    codesets: CodeSets, codes: tuple[tuple[str, str], ...], texts: tuple[str, ...]
) -> tuple[frozenset[str], bool, frozenset[str]]:
    """(ingredients, found by text only, their classes) for a medication's codings and texts."""
    found: set[str] = set()
    for system, code in codes:
        found |= codesets.drug_ingredients(system or None, code)
    if found:
        ingredients = frozenset(found)
        return ingredients, False, codesets.classes_of(ingredients)
    for text in texts:
        found |= codesets.ingredients_in_text(text)
    ingredients = frozenset(found)
    return ingredients, bool(found), codesets.classes_of(ingredients)


class _Exposure(TypedDict, total=False):
    route: str | None
    pe_factor: float | None
    start: datetime | None
    end: datetime | None
    daily_dose_mg: float | None
    is_order: bool
    planned_days: float | None
    dosing_interval_days: float | None


@dataclass
class MedicationReader:
    codesets: CodeSets
    hook: Hook
    medications: Mapping[str, fm.Medication]
    exposures: list[MedicationExposure] = field(default_factory=list)
    drafts: list[MedicationExposure] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)

    def _concepts(
        self, use: fm.MedicationUse
    ) -> tuple[list[fm.CodeableConcept | None], fm.Medication | None]:
        ref = use.medication_reference
        med = self.medications.get(ref.reference) if ref is not None and ref.reference else None
        if med is not None:
            return [med.code, *(i.item_codeable_concept for i in med.ingredient)], med
        if use.medication_codeable_concept is None and ref is not None and ref.display:
            return [fm.CodeableConcept(text=ref.display)], None  # a Medication we were not sent
        return [use.medication_codeable_concept], None

    def read(self, use: fm.MedicationUse) -> None:
        concepts, med = self._concepts(use)
        texts = _texts(concepts)
        ingredients, text_match, classes = resolve_ingredients(self.codesets, _codes(concepts), texts)
        if not classes:
            return
        status = use.status or "unknown"
        kind = _KIND[type(use)]
        draft = status == "draft" and kind == "request" and self.hook.is_order_hook
        ignored = IGNORED_ADMINISTRATION if kind == "administration" else IGNORED_STATUSES
        if status in ignored and not draft:
            self.ignored.append(Ignored(use.ref, f"status-{status}"))
            return
        if isinstance(use, fm.MedicationRequest) and use.do_not_perform:
            self.ignored.append(Ignored(use.ref, "do-not-perform"))
            return
        display = texts[0] if texts else ", ".join(sorted(ingredients))
        form_texts = _texts([med.form]) if med is not None else ()
        try:
            exposure = self._exposure(use, status, display, ingredients, form_texts)
        except ValueError as exc:
            self.ignored.append(Ignored(use.ref, f"invalid-resource: {exc}"))
            return
        (self.drafts if draft else self.exposures).append(
            MedicationExposure(
                reference=use.ref, source=kind, status=status, display=display, ingredients=ingredients,
                classes=classes, is_draft=draft, text_match=text_match, **exposure,
            )
        )  # fmt: skip

    def _exposure(
        self,
        use: fm.MedicationUse,
        status: str,
        display: str,
        ingredients: frozenset[str],
        form_texts: tuple[str, ...],
    ) -> _Exposure:
        """Route, dose and dates (the fields of `MedicationExposure` that depend on the record type)."""
        dosages = dosage.dosages_of(use)
        out = _Exposure(
            route=dosage.route(self.codesets, dosages, (display, *form_texts)),
            pe_factor=self.codesets.pe_factor_of(ingredients),
        )
        if isinstance(use, fm.MedicationAdministration):
            period = use.effective_period
            out["start"] = _first_time(use.effective_date_time, period.start if period else None)
            dose = dosage.quantity_mg(use.dosage.dose if use.dosage else None, display)
            words = " ".join([display, *dosage.route_texts(dosages)])
            out["dosing_interval_days"] = self.codesets.dosing_interval_days(ingredients, dose, words)
            return out
        out["daily_dose_mg"] = dosage.daily_dose_mg(dosages, display)
        if isinstance(use, fm.MedicationRequest):
            out["start"], out["end"] = dosage.request_dates(use)
            out["is_order"] = (use.intent or "") in ORDER_INTENTS
            out["planned_days"] = dosage.planned_days(use) if status == "draft" else None
        else:
            out["start"], out["end"] = dosage.statement_dates(use)
        return out


def _first_time(*texts: str | None) -> datetime | None:
    for text in texts:
        if text is not None:
            return parse_datetime(text)
    return None


def reads_medication_concept(codesets: CodeSets, concept: fm.CodeableConcept | None) -> bool:
    """Whether `MedicationReader.read` keeps a record whose medication is `concept` and which names
    no Medication: its codes (else its texts) resolve to an ingredient of a class the rules know.
    Lets a population sweep leave the other records out before decoding them in full."""
    _, _, classes = resolve_ingredients(codesets, _codes([concept]), _texts([concept]))
    return bool(classes)
