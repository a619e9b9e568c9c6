"""Raised PTH with calcium not high: the situation A7 and A8 partition (RULES.md A7, A8, 6, 7, 10.1 #6).

`assess` checks the shared entry criteria — (a) index PTH = the latest PTH within PTH_WINDOW is above
the (sanity-checked) ULN, (b) no active PHPT Condition, (c) no calcium HIGH within 365 d and Ca not
HIGH now — and collects every secondary cause. A7 fires only when no cause is found and the patient
is not G5D; A8 fires on any cause, or in G5D / eGFR < 15 only above the KDIGO target (9 × ULN). The
two rules read the same `RaisedPth`, so exactly one of them fires unless G5D is within target.

Missing data is itself a cause (`calcium-not-measured`, `vitd-missing`, `egfr-missing`): NPHPT is a
diagnosis of exclusion and must never be suggested on incomplete data.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.calcium_state import CalciumReading, CaState
from rules.facts import Egfr, Facts
from rules.findings import Evidence
from rules.params import Parameters
from rules.parathyroid.common import raised_index_pth
from rules.presentation import calcium_evidence, lab_display, lab_evidence, medication_evidence
from rules.snapshot import LabResult, MedicationExposure
from rules.vitamin_d.latest_draw import VitdReading, latest_vitd
from rules.windows import fmt_num

CALCIUM_NOT_MEASURED = "calcium-not-measured"
HYPOCALCEMIA = "hypocalcemia"
VITD_MISSING = "vitd-missing"
VITD_LOW = "vitd"
EGFR_MISSING = "egfr-missing"
CKD = "ckd"
MALABSORPTION = "malabsorption"
DRUG = "drug"
ABOVE_KDIGO_TARGET = "above-kdigo-target"


@dataclass(frozen=True, slots=True)
class Cause:
    id: str  # as named in RULES.md A8 (finding.data["causes"])
    label: str  # short text for the summary


@dataclass(frozen=True, slots=True)
class RaisedPth:
    pth: LabResult
    uln: float
    calcium_near: tuple[CalciumReading, ...]  # calcium results within ±30 d of the PTH
    low_index_calcium: CalciumReading | None  # the index calcium when LOW and not near the PTH
    vitd: VitdReading | None
    egfr: Egfr | None
    drugs: tuple[MedicationExposure, ...]
    malabsorption: tuple[Evidence, ...]  # the conditions/procedures that make MALABSORPTION history
    causes: tuple[Cause, ...]  # secondary causes (A8), in the order of RULES.md
    g5d: bool  # CKD stage G5D or eGFR < 15: only the KDIGO target matters
    g5d_label: str  # "CKD G5D" or "eGFR 9" when g5d, else ""
    above_kdigo_target: bool  # PTH > PTH_G5D_MAX × ULN

    @property
    def pth_display(self) -> tuple[str, str]:
        return lab_display(self.pth)

    @property
    def nphpt_possible(self) -> bool:
        """A7: every secondary cause excluded, not G5D."""
        return not self.g5d and not self.causes

    @property
    def secondary(self) -> bool:
        """A8: a cause found, or G5D above the KDIGO target."""
        return self.above_kdigo_target if self.g5d else bool(self.causes)


def assess(facts: Facts, params: Parameters) -> RaisedPth | None:
    """The shared reading of (a)–(c) and the causes; None when (a)–(c) do not all hold."""
    raised = raised_index_pth(facts, params)
    if raised is None:
        return None
    pth, uln = raised
    if facts.has_condition("PHPT"):
        return None
    if facts.ca_high or facts.any_calcium_high(params.ca_any_high_days):
        return None  # (c): any HIGH calcium in 365 d is phpt-suspected's (intermittent)
    near = tuple(facts.calcium_readings_near(pth.effective, params.ca_near_pth_days))
    vitd = latest_vitd(facts, params)
    egfr = facts.latest_egfr(params.egfr_window_days)
    drugs = tuple(facts.exposures("PTH_RAISING_DRUGS", params.drug_nphpt_days))
    malabsorption = _malabsorption_records(facts)
    low_index = facts.calcium if facts.ca_low else None
    if low_index is not None and any(c.result == low_index.result for c in near):
        low_index = None
    g5d_label = ""
    if facts.ckd_stage == "G5D":
        g5d_label = "CKD G5D"
    elif egfr is not None and egfr.value < params.egfr_g5:
        g5d_label = f"eGFR {fmt_num(egfr.value)}"
    causes = _causes(facts, params, near, vitd, egfr, drugs, malabsorption=bool(malabsorption))
    return RaisedPth(
        pth=pth,
        uln=uln,
        calcium_near=near,
        low_index_calcium=low_index,
        vitd=vitd,
        egfr=egfr,
        drugs=drugs,
        malabsorption=malabsorption,
        causes=causes,
        g5d=bool(g5d_label),
        g5d_label=g5d_label,
        above_kdigo_target=pth.value > params.pth_g5d_max_x_uln * uln,
    )


def _causes(
    facts: Facts,
    params: Parameters,
    near: tuple[CalciumReading, ...],
    vitd: VitdReading | None,
    egfr: Egfr | None,
    drugs: tuple[MedicationExposure, ...],
    *,
    malabsorption: bool,
) -> tuple[Cause, ...]:
    causes: list[Cause] = []
    if not near:
        causes.append(Cause(CALCIUM_NOT_MEASURED, "no calcium near the PTH"))
    # A low index calcium now also rules out "normal calcium", even when it is not near the PTH.
    if any(c.state is CaState.LOW for c in near) or facts.ca_low:
        causes.append(Cause(HYPOCALCEMIA, "low calcium"))
    if vitd is None:
        causes.append(Cause(VITD_MISSING, "no 25-OH D"))
    elif vitd.value < params.vitd_nphpt_min:
        value, unit = vitd.display()
        causes.append(Cause(VITD_LOW, f"25-OH D {value} {unit}"))
    if egfr is None:
        causes.append(Cause(EGFR_MISSING, "no eGFR"))
    if egfr is not None and egfr.value < params.egfr_ckd:
        causes.append(Cause(CKD, f"eGFR {fmt_num(egfr.value)}"))
    elif facts.ckd_at_least("G3a"):
        # A staged CKD Condition counts even when the latest eGFR is ≥ 60 (safest reading).
        causes.append(Cause(CKD, f"CKD {facts.ckd_stage}"))
    if malabsorption:
        causes.append(Cause(MALABSORPTION, "malabsorption"))
    if drugs:
        names = sorted({m.display for m in drugs})
        causes.append(Cause(DRUG, "/".join(names)))
    return tuple(causes)


def evidence(raised: RaisedPth) -> list[Evidence]:
    """PTH, the calcium nearest to it, 25-OH D, eGFR, PTH-raising drugs and malabsorption records."""
    rows = [lab_evidence(raised.pth, note=f"ULN {fmt_num(raised.uln)} pg/mL")]
    if raised.calcium_near:
        low = [c for c in raised.calcium_near if c.state is CaState.LOW]
        shown = low or list(raised.calcium_near)
        closest = min(shown, key=lambda c: abs(c.result.effective - raised.pth.effective))
        rows += calcium_evidence(closest)
    if raised.low_index_calcium is not None:
        rows += calcium_evidence(raised.low_index_calcium)
    if raised.vitd is not None:
        rows += [lab_evidence(r, note=raised.vitd.kind.value) for r in raised.vitd.results]
    if raised.egfr is not None:
        note = "CKD-EPI 2021 computed from creatinine" if raised.egfr.computed else ""
        rows += [lab_evidence(r, note=note) for r in raised.egfr.source]
    rows += [medication_evidence(m, "PTH-raising medication") for m in raised.drugs]
    rows += raised.malabsorption
    return rows


def _malabsorption_records(facts: Facts) -> tuple[Evidence, ...]:
    """MALABSORPTION history (any clinical status), GI surgery procedures included (2.3)."""
    sets = ("MALABSORPTION", "GI_SURGERY")
    found: dict[str, str] = {}
    for c in facts.s.conditions:
        if any(name in c.sets for name in sets):
            found[c.reference] = c.display or ", ".join(c.codes)
    for p in facts.s.procedures:
        if any(name in p.sets for name in sets):
            found[p.reference] = p.display
    return tuple(Evidence(ref, f"Malabsorption history: {text}") for ref, text in found.items())
