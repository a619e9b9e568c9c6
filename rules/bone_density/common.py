"""Helpers shared by the bone-density rules C1, C2, C3, C6 and C7.

The secondary-cause work-up of C1 (also quoted by C3), the evidence of osteoporosis status and of
osteoporosis drugs, and readable names for those drugs and for DXA sites.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from rules import orderables
from rules.calcium_state import CaKind
from rules.facts import Facts
from rules.findings import Evidence, Suggestion
from rules.orderables import local_order
from rules.params import Parameters
from rules.presentation import coded_condition_evidence, dxa_evidence, lab_evidence, medication_evidence
from rules.snapshot import Analyte, DxaSite, MedicationExposure
from rules.vitamin_d.latest_draw import latest_vitd

SITE_NAMES = {
    DxaSite.LS: "lumbar spine",
    DxaSite.TH: "total hip",
    DxaSite.FN: "femoral neck",
    DxaSite.RAD: "1/3 radius",
    DxaSite.OTHER: "unspecified site",
}

# Ingredient names (RULES.md 2.4), used to name the drug on a card; classes still decide membership.
BP_INGREDIENTS = frozenset({"alendronate", "risedronate", "ibandronate", "zoledronic acid", "pamidronate"})
ANTIRESORPTIVE_INGREDIENTS = BP_INGREDIENTS | {"denosumab"}
OP_INGREDIENTS = ANTIRESORPTIVE_INGREDIENTS | {
    "teriparatide",
    "abaloparatide",
    "romosozumab",
    "raloxifene",
}

# Secondary-cause orders without a verified LOINC code that C1 and C2 both suggest.
SPEP = local_order("Consider serum protein electrophoresis")
COELIAC_SEROLOGY = local_order("Consider coeliac serology")


# AACE 2020 secondary-cause evaluation: suggested, never required (C1).
OPTIONAL_WORKUP = (
    orderables.URINE_CA_24H,
    local_order("Consider complete blood count"),
    local_order("Consider liver panel with alkaline phosphatase"),
    SPEP,
    COELIAC_SEROLOGY,
)
TESTOSTERONE = local_order("Consider testosterone (men)")


# ---- C1 secondary-cause work-up -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkupItem:
    label: str  # short, for the summary list
    orders: tuple[Suggestion, ...]
    reason: str = ""  # why a conditional item is required


def needs_tsh(facts: Facts) -> str:
    """Why TSH is part of the work-up ('' when it is not): levothyroxine current or HYPERTHYROID."""
    on_thyroxine = any(
        facts.is_current(m) and ("levothyroxine" in m.ingredients or "THYROID_HORMONE" in m.classes)
        for m in facts.s.medications
    )
    if on_thyroxine:
        return "levothyroxine is current"
    if facts.has_condition("HYPERTHYROID"):
        return "hyperthyroidism is active"
    return ""


def has_interpretable_calcium(facts: Facts, within: float) -> bool:
    """Ionized, lab-corrected, or total calcium with a pairable albumin (C1 core item)."""
    return any(r.kind is not CaKind.UNCORRECTED for r in facts.calcium_readings(within))


def missing_workup(facts: Facts, params: Parameters) -> list[WorkupItem]:
    """The C1 core and conditional items with no eligible result within the work-up window."""
    w = params.workup_window_days
    missing: list[WorkupItem] = []
    if not has_interpretable_calcium(facts, w):
        missing.append(WorkupItem("calcium+albumin", (orderables.CALCIUM, orderables.ALBUMIN)))
    if facts.latest(Analyte.PHOS, within=w) is None:
        missing.append(WorkupItem("phosphate", (orderables.PHOSPHATE,)))
    if facts.latest(Analyte.CREAT, Analyte.EGFR, within=w) is None:
        missing.append(WorkupItem("creatinine/eGFR", (orderables.CREATININE,)))
    if latest_vitd(facts, params, w) is None:
        missing.append(WorkupItem("25-OH D", (orderables.VITD,)))
    if facts.any_calcium_high(w) and facts.latest(Analyte.PTH, within=w) is None:
        missing.append(WorkupItem("PTH", (orderables.PTH,), f"a high calcium lies within {w} days"))
    tsh_reason = needs_tsh(facts)
    if tsh_reason and facts.latest(Analyte.TSH, within=w) is None:
        missing.append(WorkupItem("TSH", (orderables.TSH,), tsh_reason))
    return missing


def workup_evidence(facts: Facts, params: Parameters) -> list[Evidence]:
    """The work-up results that are present (latest of each), for the card detail."""
    w = params.workup_window_days
    rows: list[Evidence] = []
    for analytes in (
        (Analyte.CA_ION, Analyte.CA_LABCORR, Analyte.CA_TOTAL),
        (Analyte.ALBUMIN,),
        (Analyte.PHOS,),
        (Analyte.EGFR, Analyte.CREAT),
        (Analyte.PTH,),
        (Analyte.TSH,),
    ):
        lab = facts.latest(*analytes, within=w)
        if lab is not None:
            rows.append(lab_evidence(lab))
    vitd = latest_vitd(facts, params, w)
    if vitd is not None:
        rows += [lab_evidence(r) for r in vitd.results]
    return rows


# ---- evidence rows ---------------------------------------------------------------------------
def therapy_evidence(m: MedicationExposure, name: str | None = None) -> Evidence:
    """An osteoporosis drug (record or draft) named by its known ingredients, with its status."""
    return medication_evidence(m, name=name or known_ingredient_name(m), note=f"status {m.status}")


def osteoporosis_evidence(facts: Facts, params: Parameters) -> list[Evidence]:
    """What makes osteoporosis status (3.6): the conditions and the qualifying T-scores."""
    rows = [
        coded_condition_evidence(c) for c in facts.s.conditions if c.sets & {"OSTEOPOROSIS", "FRAGILITY_FX"}
    ]
    rows += [dxa_evidence(d) for d in facts.population_t_scores_at_or_below(params.t_osteo)]
    return rows


def known_ingredient_name(m: MedicationExposure, known: Collection[str] = OP_INGREDIENTS) -> str:
    """The names of the record's ingredients that are in `known` (the osteoporosis drugs by default),
    else the record's own name."""
    names = sorted(i for i in m.ingredients if i in known)
    return "/".join(names) if names else record_name(m)


def record_name(m: MedicationExposure) -> str:
    """The record's display, else all its ingredients."""
    return m.display or ", ".join(sorted(m.ingredients)) or "medication"
