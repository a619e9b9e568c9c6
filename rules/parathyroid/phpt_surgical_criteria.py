"""A6 `phpt-surgical-criteria`: known primary hyperparathyroidism meeting, or not yet assessed for,
the surgical criteria.

The Fifth International Workshop (2022) recommends parathyroidectomy when any of these holds:
calcium > 1 mg/dL above the ULN; T-score ≤ −2.5 at the lumbar spine, total hip, femoral neck or
distal 1/3 radius; a vertebral (or fragility) fracture; eGFR < 60; 24-h urine calcium > 250 mg/d
(women) or > 300 mg/d (men); nephrolithiasis or nephrocalcinosis; age < 50. With an active PHPT
Condition the card is `criteria-met` (warning) when one holds, else `evaluation-incomplete`
(info) when the data to decide are missing: a T-score, a 1/3-radius T-score, an eGFR or a 24-h
urine calcium. A Synthea 38265-5 whose bodySite contradicts the radius is a T-score but not a
radius measurement (RULES.md 2.2). Sex unknown uses the more sensitive urine threshold (250).
"""

from __future__ import annotations

from rules import orderables
from rules.calcium_state import CalciumReading
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator, Suggestion
from rules.guidelines import PHPT_WORKSHOP_2022
from rules.params import Parameters
from rules.presentation import (
    bounded_summary,
    calcium_evidence,
    condition_evidence,
    dxa_evidence,
    lab_evidence,
    make_finding,
)
from rules.rule import Rule
from rules.snapshot import Analyte, DxaScore, DxaSite
from rules.windows import fmt_num

RULE_ID = "phpt-surgical-criteria"

# Short labels of RULES.md A6 (card summary), and of the missing items.
CA_LABEL, T_LABEL, FX_LABEL = "Ca>ULN+1", "T≤-2.5", "vertebral/fragility fx"
EGFR_LABEL, UCA_LABEL, STONES_LABEL, AGE_LABEL = "eGFR<60", "urine Ca high", "stones", "age<50"
MISSING_LABELS = {
    "t-score": "DXA T-scores",
    "radius-t-score": "1/3 radius T-score",
    "egfr": "eGFR",
    "urine-ca-24h": "24-h urine Ca",
}


class Assessment:
    """The criteria met, the items missing and the data behind them, for one patient."""

    def __init__(self, facts: Facts, params: Parameters) -> None:
        self.facts, self.params = facts, params
        self.criteria: list[str] = []
        self.missing: list[str] = []
        self.evidence: list[Evidence] = []
        self._calcium(facts.calcium)
        self._dxa(facts.t_scores(within=params.dxa_phpt_days))
        if facts.has_history("VERTEBRAL_FX") or facts.has_history("FRAGILITY_FX"):
            self.criteria.append(FX_LABEL)
        self._egfr()
        self._urine_calcium()
        if facts.has_history("NEPHROLITHIASIS"):
            self.criteria.append(STONES_LABEL)
        if facts.age_below(params.age_phpt_young):
            self.criteria.append(AGE_LABEL)

    def _calcium(self, ca: CalciumReading | None) -> None:
        if ca is None or ca.high is None:
            return
        self.evidence += calcium_evidence(ca)
        margin = self.params.phpt_ca_margin_ionized if ca.is_ionized else self.params.phpt_ca_margin
        # Rounded so that ULN + margin (e.g. 10.2 + 1.0) is compared as written, not as a float sum.
        if round(ca.value, 6) > round(ca.high + margin, 6):
            self.criteria.append(CA_LABEL)

    def _dxa(self, scores: list[DxaScore]) -> None:
        if not scores:
            self.missing += ["t-score", "radius-t-score"]
            return
        low = [d for d in scores if d.value <= self.params.t_osteo]
        if low:
            self.criteria.append(T_LABEL)
            self.evidence.append(dxa_evidence(min(low, key=lambda d: d.value)))
        else:
            self.evidence.append(dxa_evidence(min(scores, key=lambda d: d.value)))
        if not any(d.site is DxaSite.RAD and not d.radius_contradicted for d in scores):
            self.missing.append("radius-t-score")

    def _egfr(self) -> None:
        egfr = self.facts.latest_egfr(self.params.egfr_window_days)
        if egfr is None:
            self.missing.append("egfr")
            return
        self.evidence.append(lab_evidence(egfr.source[0]))
        if egfr.value < self.params.egfr_phpt:
            self.criteria.append(EGFR_LABEL)

    def _urine_calcium(self) -> None:
        uca = self.facts.latest(Analyte.UCA24, within=self.params.uca_window_days)
        if uca is None:
            self.missing.append("urine-ca-24h")
            return
        self.evidence.append(lab_evidence(uca))
        if uca.value > self.urine_threshold:
            self.criteria.append(UCA_LABEL)

    @property
    def urine_threshold(self) -> float:
        return self.params.uca_male if self.facts.is_male else self.params.uca_female

    @property
    def requests_dxa(self) -> bool:
        return "t-score" in self.missing or "radius-t-score" in self.missing

    def notes(self) -> list[str]:
        out = []
        if self.facts.calcium is None:
            out.append(
                f"No calcium within {self.params.ca_window_days} days: the calcium criterion "
                "could not be assessed."
            )
        if self.criteria and self.missing:
            out.append(f"Not yet assessed: {', '.join(self.missing_labels())}.")
        return out

    def missing_labels(self) -> list[str]:
        if "t-score" in self.missing:
            # No DXA at all: one item, the full study with the radius.
            labels = ["DXA incl. 1/3 radius"]
        else:
            labels = [MISSING_LABELS[m] for m in self.missing if m == "radius-t-score"]
        return labels + [MISSING_LABELS[m] for m in self.missing if m in ("egfr", "urine-ca-24h")]


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    phpt = facts.conditions("PHPT")
    if not phpt:
        return None
    a = Assessment(facts, params)
    evidence = [condition_evidence(c) for c in phpt] + a.evidence
    if a.criteria:
        return _criteria_met(a, evidence, params)
    if a.missing:
        return _evaluation_incomplete(a, evidence, params)
    return None


def _criteria_met(a: Assessment, evidence: list[Evidence], params: Parameters) -> Finding:
    summary = bounded_summary(
        lambda items: f"PHPT meets surgical criteria ({items}): consider parathyroidectomy referral.",
        a.criteria,
    )
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        summary,
        why=_why(params, met=True),
        evidence=evidence,
        references=[PHPT_WORKSHOP_2022],
        suggestions=[orderables.referral("Refer to endocrine surgery / endocrinology")],
        variant="criteria-met",
        notes=[f"Criteria met: {', '.join(a.criteria)}.", *a.notes()],
        data={"criteria": ",".join(a.criteria), "missing": ",".join(a.missing)},
    )


def _evaluation_incomplete(a: Assessment, evidence: list[Evidence], params: Parameters) -> Finding:
    summary = bounded_summary(
        lambda items: f"Primary hyperparathyroidism: surgical-criteria work-up incomplete ({items}).",
        a.missing_labels(),
    )
    return make_finding(
        RULE_ID,
        Indicator.INFO,
        summary,
        why=_why(params, met=False),
        evidence=evidence,
        references=[PHPT_WORKSHOP_2022],
        suggestions=_missing_orders(a) + _imaging(),
        variant="evaluation-incomplete",
        notes=[f"Missing: {', '.join(a.missing_labels())}.", *a.notes()],
        # The engine suppresses generic DXA reminders when this card asks for a DXA (1.5, 10.1 #9).
        data={
            "criteria": "",
            "missing": ",".join(a.missing),
            "requests_dxa": "true" if a.requests_dxa else "false",
        },
    )


def _missing_orders(a: Assessment) -> list[Suggestion]:
    orders: list[Suggestion] = []
    if a.requests_dxa:
        orders.append(orderables.DXA_WITH_RADIUS)
    if "urine-ca-24h" in a.missing:
        orders.append(orderables.URINE_CA_24H)
    if "egfr" in a.missing:
        orders.append(orderables.CREATININE)
    return orders


def _imaging() -> list[Suggestion]:
    return [
        orderables.referral("Renal imaging (ultrasound or CT) for silent stones"),
        orderables.referral("Vertebral fracture assessment (VFA or spine radiograph)"),
    ]


def _why(params: Parameters, *, met: bool) -> str:
    head = "Active primary hyperparathyroidism on the problem list"
    if met:
        return f"{head}; at least one Fifth International Workshop surgical criterion is met."
    return (
        f"{head}; no surgical criterion is met on the data available, and data needed to decide "
        f"are missing (T-scores within {params.dxa_phpt_days} days, including the distal 1/3 "
        f"radius; eGFR within {params.egfr_window_days} days; 24-h urine calcium within "
        f"{params.uca_window_days} days). Urine calcium threshold "
        f"{fmt_num(params.uca_female)} mg/d (women, sex unknown) / {fmt_num(params.uca_male)} "
        "mg/d (men)."
    )


RULE = Rule(RULE_ID, "A6", evaluate)
