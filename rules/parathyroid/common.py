"""Pieces shared by the hypercalcaemia and calcium rules (A2–A5, A9, A10).

The paired-PTH lookup of RULES.md section 5 ("paired PTH (±30 d, closest)"), the magnesium that goes
with a low calcium, the thiazide/lithium exposure that A3 hands over to A5, how the culprit drug is
named on a card, and the calcium caveats of 3.2 (correction unreliable → ask for albumin or ionized
calcium).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rules import orderables
from rules.calcium_state import CaKind, CalciumReading
from rules.facts import Facts
from rules.findings import Evidence, Suggestion
from rules.params import Parameters
from rules.presentation import calcium_evidence, lab_evidence, medication_evidence, unique_suggestions
from rules.snapshot import Analyte, LabResult, MedicationExposure
from rules.windows import fmt_date, fmt_num

HYPERCA_DRUG_CLASSES = ("THIAZIDE", "LITHIUM")

# Ingredient names of each class (RULES.md 2.4), used only to name the culprit ingredient of a
# combination product (losartan/hydrochlorothiazide → "hydrochlorothiazide"); class membership
# itself comes from the snapshot.
_CLASS_INGREDIENTS: dict[str, frozenset[str]] = {
    "THIAZIDE": frozenset(
        {"hydrochlorothiazide", "chlorthalidone", "chlorothiazide", "indapamide", "metolazone"}
    ),
    "LITHIUM": frozenset({"lithium carbonate", "lithium citrate"}),
}


def paired_pth(facts: Facts, ca: CalciumReading, params: Parameters) -> LabResult | None:
    """The eligible PTH closest to the calcium within ±PTH_PAIR_HYPER days (and not after T)."""
    return facts.paired(Analyte.PTH, ca.result.effective, params.pth_pair_hyper_days)


def index_calcium_text(ca: CalciumReading) -> str:
    """How the card's "why" names the calcium it judged: kind, value and canonical unit."""
    return f"Index calcium ({ca.kind.value}) {fmt_num(ca.value)} {ca.unit}"


def high_calcium_with_paired_pth_text(
    ca: CalciumReading, pth: LabResult, params: Parameters, verdict: str
) -> str:
    """The "why" of A3/A4: a high calcium and the `verdict` on the PTH paired with it."""
    return (
        f"{index_calcium_text(ca)} is above the upper reference limit and the PTH closest to it "
        f"({fmt_num(pth.value)} pg/mL, within ±{params.pth_pair_hyper_days} days) is {verdict}."
    )


def raised_index_pth(facts: Facts, params: Parameters) -> tuple[LabResult, float] | None:
    """The index PTH (latest within PTH_WINDOW) with its ULN, when it is above that ULN (A3, A7, A8)."""
    pth = facts.latest(Analyte.PTH, within=params.pth_window_days)
    if pth is None:
        return None
    uln = facts.uln(pth)
    if uln is None or pth.value <= uln:
        return None
    return pth, uln


def lab_evidence_rows(ca: CalciumReading, *labs: LabResult | None) -> list[Evidence]:
    """The calcium rows (with the albumin used) followed by the other results that are present."""
    return calcium_evidence(ca) + [lab_evidence(lab) for lab in labs if lab is not None]


def latest_mg_since(facts: Facts, t_index: datetime, params: Parameters) -> LabResult | None:
    """Latest Mg in [t_index − MG_PAIR, T] (RULES.md A9/A10, section 4)."""
    since = t_index - timedelta(days=params.mg_pair_days)
    found = [r for r in facts.labs(Analyte.MG) if r.effective >= since]
    return found[-1] if found else None


def hypercalcemic_drugs(facts: Facts, params: Parameters) -> list[tuple[str, MedicationExposure]]:
    """(class, exposure) for every THIAZIDE or LITHIUM exposure within DRUG_HYPERCA days."""
    return [
        (drug_class, m)
        for drug_class in HYPERCA_DRUG_CLASSES
        for m in facts.exposures(drug_class, params.drug_hyperca_days)
    ]


def culprit_name(m: MedicationExposure, drug_class: str) -> str:
    """The name of the ingredient of `drug_class` (the culprit of a combination product), else the
    single ingredient, else the product display, else the class."""
    known = sorted(m.ingredients & _CLASS_INGREDIENTS.get(drug_class, frozenset()))
    if known:
        return "/".join(known)
    if len(m.ingredients) == 1:
        return next(iter(m.ingredients))
    return m.display or drug_class.lower()


def exposure_evidence(facts: Facts, m: MedicationExposure) -> Evidence:
    """The medication row, noting whether it is current or when it ended."""
    if facts.is_current(m):
        note = "current"
    else:
        end = facts.end_of(m)
        note = f"{m.status}, ended {fmt_date(end)}" if end is not None else m.status
    return medication_evidence(m, "Medication", note=note)


def calcium_caveats(
    facts: Facts, ca: CalciumReading, params: Parameters
) -> tuple[list[str], list[Suggestion]]:
    """Notes and orders when the calcium value may mislead (3.2; section 6 'only total Ca')."""
    if ca.kind is CaKind.IONIZED:
        return [], []
    notes: list[str] = []
    orders: list[Suggestion] = []
    if ca.kind is CaKind.UNCORRECTED:
        notes.append(
            f"No albumin within {params.alb_pair_hours} h of this total calcium: repeat calcium "
            "with albumin, or measure ionized calcium."
        )
        orders += [orderables.ALBUMIN, orderables.IONIZED_CA]
    if ca.albumin is not None and ca.albumin.value < params.albumin_unreliable:
        notes.append(
            f"Albumin {fmt_num(ca.albumin.value)} g/dL is below {fmt_num(params.albumin_unreliable)}"
            " g/dL: albumin correction is unreliable, measure ionized calcium."
        )
        orders.append(orderables.IONIZED_CA)
    egfr = facts.latest_egfr()
    if egfr is not None and egfr.value < params.egfr_unreliable:
        notes.append(
            f"eGFR {fmt_num(egfr.value)} is below {fmt_num(params.egfr_unreliable)}: albumin "
            "correction is unreliable, measure ionized calcium."
        )
        orders.append(orderables.IONIZED_CA)
    ionized = facts.latest(Analyte.CA_ION, within=params.ca_window_days)
    if ionized is not None:
        notes.append(
            f"An ionized calcium ({fmt_num(ionized.reported_value)} {ionized.reported_unit}, "
            f"{fmt_date(ionized.effective)}) is on file: prefer it to corrected values."
        )
    return notes, unique_suggestions(orders)
