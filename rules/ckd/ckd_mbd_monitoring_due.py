"""D1 `ckd-mbd-monitoring-due`: CKD G3a or worse with CKD-MBD laboratory monitoring overdue.

Mineral and bone disorder starts early in CKD; KDIGO 2017 asks for calcium, phosphate and PTH (and
alkaline phosphatase) from G3a, at intervals that shorten as kidney function falls: Ca/P every
6–12 months in G3, 3–6 months in G4, 1–3 months in G5–G5D; PTH at baseline in G3, every 6–12 months
in G4 and 3–6 months in G5–G5D. This rule uses the upper bound of each range (parameters
`ckd_mbd_g3/g4/g5`: calcium, phosphate, PTH, 25-OH D in days; 25-OH D and the G3 PTH interval are
service defaults). The stage follows 3.6: dialysis → G5D, else two eGFRs < 60 at least 90 days
apart, else a staged CKD Condition. An item never measured is overdue.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules import orderables
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator, Suggestion
from rules.guidelines import KDIGO_CKD_MBD_2017
from rules.params import Parameters
from rules.presentation import bounded_summary, ckd_evidence, lab_evidence, make_finding
from rules.rule import Rule
from rules.snapshot import CALCIUM_ANALYTES, Analyte, LabResult
from rules.windows import fmt_date

RULE_ID = "ckd-mbd-monitoring-due"
_VITD = (Analyte.VITD_TOTAL, Analyte.VITD_D3, Analyte.VITD_D2)


@dataclass(frozen=True, slots=True)
class Item:
    name: str  # as listed in `{missing}`
    analytes: tuple[Analyte, ...]
    orders: tuple[Suggestion, ...]


# In the order of the parameter tuples: calcium, phosphate, PTH, 25-OH D.
ITEMS = (
    Item("calcium", tuple(sorted(CALCIUM_ANALYTES)), (orderables.CALCIUM, orderables.ALBUMIN)),
    Item("phosphate", (Analyte.PHOS,), (orderables.PHOSPHATE,)),
    Item("PTH", (Analyte.PTH,), (orderables.PTH,)),
    Item("25-OH D", _VITD, (orderables.VITD,)),
)


def intervals(stage: str, params: Parameters) -> tuple[int, int, int, int]:
    if stage in ("G3a", "G3b"):
        return params.ckd_mbd_g3
    if stage == "G4":
        return params.ckd_mbd_g4
    return params.ckd_mbd_g5  # G5 and G5D


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    stage = facts.ckd_stage
    if stage is None:  # 3.6 stages start at G3a
        return None
    overdue: list[str] = []
    suggestions: list[Suggestion] = []
    evidence: list[Evidence] = ckd_evidence(facts)
    notes: list[str] = []
    for item, days in zip(ITEMS, intervals(stage, params), strict=True):
        analytes = item.analytes + ((Analyte.VITD_LEGACY,) if _legacy(item, params) else ())
        last = facts.latest(*analytes)
        if last is not None:
            evidence.append(lab_evidence(last))
        if facts.latest(*analytes, within=days) is not None:
            continue
        overdue.append(item.name)
        suggestions.extend(item.orders)
        notes.append(f"{item.name}: {_last_text(last)}; expected every {days} days in {stage}.")
    if not overdue:
        return None
    if stage in ("G4", "G5", "G5D"):
        notes.append("Consider alkaline phosphatase as well (KDIGO, G4–G5D).")
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        bounded_summary(lambda missing: f"CKD {stage}: CKD-MBD labs overdue ({missing}).", overdue),
        why=(
            f"CKD stage {stage} (RULES.md 3.6); CKD-MBD monitoring items are older than their "
            "interval or were never measured."
        ),
        evidence=evidence,
        references=[KDIGO_CKD_MBD_2017],
        suggestions=suggestions,
        notes=notes,
        data={"stage": stage, "missing": ", ".join(overdue)},
    )


def _legacy(item: Item, params: Parameters) -> bool:
    """The legacy "vitamin D" assay counts only where the site confirmed it measures 25-OH D."""
    return item.analytes == _VITD and params.accept_vitd_legacy


def _last_text(last: LabResult | None) -> str:
    return "never measured" if last is None else f"last on {fmt_date(last.effective)}"


RULE = Rule(RULE_ID, "D1", evaluate)
