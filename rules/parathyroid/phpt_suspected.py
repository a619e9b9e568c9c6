"""A3 `phpt-suspected`: high calcium with a PTH that is not suppressed suggests primary HPT.

The biochemical diagnosis of primary hyperparathyroidism is hypercalcaemia with an elevated or
inappropriately normal PTH (Fifth International Workshop 2022). Two branches:

* current: the index calcium is HIGH and the PTH closest to it (±PTH_PAIR_HYPER days) is
  ≥ PTH_NONSUPPRESSED (20 pg/mL);
* intermittent: calcium is not HIGH now, but some calcium within 365 days was HIGH and the latest
  PTH within 365 days is above its ULN (PHPT is often intermittently hypercalcaemic).

An active PHPT Condition hands over to A6. Thiazides and lithium raise calcium and PTH: with a
HIGH calcium now, A5 replaces this card. In the intermittent branch A5 cannot fire (it needs a
HIGH calcium now), so the card still fires and names the drug rather than leave the patient
without any card (RULES.md ambiguity, reported). With eGFR < 30 or dialysis the card speaks of
tertiary hyperparathyroidism instead.
"""

from __future__ import annotations

from rules import orderables
from rules.calcium_state import CalciumReading, CaState
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator, Suggestion
from rules.guidelines import PHPT_WORKSHOP_2022
from rules.params import Parameters
from rules.parathyroid.common import (
    calcium_caveats,
    culprit_name,
    exposure_evidence,
    high_calcium_with_paired_pth_text,
    hypercalcemic_drugs,
    lab_evidence_rows,
    paired_pth,
    raised_index_pth,
)
from rules.presentation import (
    calcium_display,
    lab_display,
    lab_evidence,
    make_finding,
    unique_suggestions,
)
from rules.rule import Rule
from rules.snapshot import LabResult, MedicationExposure
from rules.vitamin_d.latest_draw import latest_vitd
from rules.windows import fmt_date, fmt_num

RULE_ID = "phpt-suspected"


def current_branch(facts: Facts, params: Parameters) -> tuple[CalciumReading, LabResult] | None:
    ca = facts.calcium
    if ca is None or not facts.ca_high:
        return None
    pth = paired_pth(facts, ca, params)
    if pth is None or pth.value < params.pth_nonsuppressed:
        return None
    return ca, pth


def intermittent_branch(facts: Facts, params: Parameters) -> tuple[CalciumReading, LabResult] | None:
    if facts.ca_high:
        return None
    raised = raised_index_pth(facts, params)
    if raised is None:
        return None
    pth, _ = raised
    highs = [c for c in facts.calcium_readings(params.ca_any_high_days) if c.state is CaState.HIGH]
    if not highs:
        return None
    return highs[-1], pth


def tertiary_context(facts: Facts, params: Parameters) -> Evidence | str | None:
    """Why the tertiary wording applies: the low eGFR (as evidence) or dialysis; None otherwise."""
    if facts.has_condition("DIALYSIS"):
        return "Dialysis / ESRD on the problem list"
    egfr = facts.latest_egfr()
    if egfr is not None and egfr.value < params.egfr_tertiary_hpt:
        return lab_evidence(egfr.source[0], note=f"below {fmt_num(params.egfr_tertiary_hpt)}")
    return None


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if facts.has_condition("PHPT"):
        return None
    drugs = hypercalcemic_drugs(facts, params)
    found = current_branch(facts, params)
    branch = "current"
    if found is not None and drugs:
        return None  # A5 replaces this card while calcium is high on a thiazide or lithium
    if found is None:
        found, branch = intermittent_branch(facts, params), "intermittent"
        if found is None:
            return None
    ca, pth = found
    tertiary = tertiary_context(facts, params)
    ca_value, ca_unit = calcium_display(ca)
    pth_value, pth_unit = lab_display(pth)
    conclusion = (
        "PTH-dependent hypercalcemia — consider tertiary hyperparathyroidism"
        if tertiary is not None
        else "possible primary hyperparathyroidism"
    )
    caveats, caveat_orders = calcium_caveats(facts, ca, params)
    evidence, notes = _details(facts, params, drugs, tertiary)
    if branch == "intermittent":
        notes.insert(0, _intermittent_note(ca, pth))
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        f"Calcium {ca_value} {ca_unit} with non-suppressed PTH {pth_value} {pth_unit}: {conclusion}.",
        why=_why(branch, ca, pth, params),
        evidence=lab_evidence_rows(ca, pth) + evidence,
        references=[PHPT_WORKSHOP_2022],
        suggestions=_suggestions(facts, params, caveat_orders),
        notes=caveats + notes,
        data={"branch": branch, "tertiary": "true" if tertiary is not None else "false"},
    )


def _details(
    facts: Facts,
    params: Parameters,
    drugs: list[tuple[str, MedicationExposure]],
    tertiary: Evidence | str | None,
) -> tuple[list[Evidence], list[str]]:
    """Evidence rows and notes beyond calcium and PTH: tertiary context, confounding drugs, work-up."""
    evidence: list[Evidence] = []
    notes: list[str] = []
    if isinstance(tertiary, Evidence):
        evidence.append(tertiary)
        notes.append(
            f"eGFR below {fmt_num(params.egfr_tertiary_hpt)}: consider tertiary hyperparathyroidism."
        )
    elif tertiary is not None:
        notes.append(f"{tertiary}: consider tertiary hyperparathyroidism.")
    for drug_class, m in drugs:
        evidence.append(exposure_evidence(facts, m))
        notes.append(
            f"{culprit_name(m, drug_class)} within {params.drug_hyperca_days} days can raise calcium "
            "and PTH: interpret with care."
        )
    notes += [
        "24-h urine calcium and creatinine give the calcium/creatinine clearance ratio "
        "(< 0.01 suggests familial hypocalciuric hypercalcemia).",
        "Once confirmed, assess the surgical criteria for primary hyperparathyroidism.",
    ]
    return evidence, notes


def _why(branch: str, ca: CalciumReading, pth: LabResult, params: Parameters) -> str:
    if branch == "current":
        verdict = f"at or above {fmt_num(params.pth_nonsuppressed)} pg/mL (not suppressed)"
        return high_calcium_with_paired_pth_text(ca, pth, params, verdict)
    return (
        "Calcium is not high now, but a calcium within the last "
        f"{params.ca_any_high_days} days was high and the latest PTH ({fmt_num(pth.value)} "
        "pg/mL) is above its upper reference limit: intermittent PTH-dependent hypercalcemia."
    )


def _intermittent_note(ca: CalciumReading, pth: LabResult) -> str:
    return (
        f"Intermittent: high calcium on {fmt_date(ca.result.effective)}, raised PTH on "
        f"{fmt_date(pth.effective)}; the current calcium is not high."
    )


def _suggestions(facts: Facts, params: Parameters, caveat_orders: list[Suggestion]) -> list[Suggestion]:
    orders = [
        orderables.CALCIUM,
        orderables.ALBUMIN,
        orderables.IONIZED_CA,
        orderables.PTH,
        *caveat_orders,
    ]
    # 25-OH D and eGFR do not block the card; they are suggested when missing (A3 missing data).
    if latest_vitd(facts, params) is None:
        orders.append(orderables.VITD)
    if facts.latest_egfr() is None:
        orders.append(orderables.CREATININE)
    orders += [orderables.URINE_CA_24H, orderables.referral("Refer to endocrinology")]
    return unique_suggestions(orders)


RULE = Rule(RULE_ID, "A3", evaluate)
