"""A10 `hypopara-suspected`: low calcium with a PTH that is not raised.

Hypocalcaemia with an undetectable, low or inappropriately normal PTH points to hypoparathyroidism
(Brandi et al., JCEM 2016; ESE 2015): a healthy parathyroid answers low calcium with a raised PTH.
The calcium must be interpretable (ionized, lab-corrected or albumin-corrected): a low uncorrected
total calcium is often just low albumin. The PTH is the one closest to the index calcium within
±14 days. A low magnesium (latest Mg from 30 days before the index calcium up to T) impairs PTH
secretion and action — that functional picture belongs to `hypomagnesemia`, not here.
Pseudohypoparathyroidism (E20.1, PTH resistance) is excluded. A missing Mg does not block the card;
it asks for one.
"""

from __future__ import annotations

from rules import orderables
from rules.calcium_state import CaKind
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import HYPOPARA_2016, SFE_HYPOCALCAEMIA_2016
from rules.params import Parameters
from rules.parathyroid.common import latest_mg_since
from rules.presentation import calcium_display, calcium_evidence, lab_display, lab_evidence, make_finding
from rules.rule import Rule
from rules.snapshot import Analyte
from rules.windows import fmt_num

RULE_ID = "hypopara-suspected"

INTERPRETABLE = frozenset({CaKind.IONIZED, CaKind.CORRECTED, CaKind.LAB_CORRECTED})


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    ca = facts.calcium
    if ca is None or not facts.ca_low or ca.kind not in INTERPRETABLE:
        return None
    if facts.has_condition("PSEUDOHYPOPARA"):
        return None
    pth = facts.paired(Analyte.PTH, ca.result.effective, params.pth_pair_hypo_days)
    if pth is None:
        return None  # `hypocalcemia` asks for the PTH
    pth_uln = facts.uln(pth)
    if pth_uln is None or pth.value > pth_uln:
        return None
    mg = latest_mg_since(facts, ca.result.effective, params)
    mg_lln = None if mg is None else facts.lln(mg)
    if mg is not None and mg_lln is not None and mg.value < mg_lln:
        return None  # functional hypoparathyroidism: correct Mg first (`hypomagnesemia`)
    ca_value, ca_unit = calcium_display(ca)
    pth_value, pth_unit = lab_display(pth)
    summary = (
        f"Low calcium {ca_value} {ca_unit} with PTH {pth_value} {pth_unit} not raised: "
        "possible hypoparathyroidism."
    )
    suggestions = [orderables.MAGNESIUM] if mg is None else []
    suggestions += [
        orderables.PHOSPHATE,
        orderables.URINE_CA_24H,
        orderables.referral("Endocrinology referral"),
    ]
    notes = [
        "Confirm the low calcium and PTH on a second occasion at least 2 weeks apart.",
        "Review neck surgery history: post-surgical hypoparathyroidism is chronic only after 6 months.",
    ]
    if mg is None:
        notes.insert(0, "No magnesium on file: measure it (low Mg suppresses PTH secretion).")
    if facts.has_condition("HYPOPARA"):
        notes.append("Hypoparathyroidism is already on the problem list.")
    evidence = [*calcium_evidence(ca), lab_evidence(pth, note=f"ULN {fmt_num(pth_uln)} pg/mL")]
    if mg is not None:
        mg_note = "" if mg_lln is None else f"LLN {fmt_num(mg_lln)} mg/dL"
        evidence.append(lab_evidence(mg, note=mg_note))
    return make_finding(
        RULE_ID,
        Indicator.WARNING,
        summary,
        why=(
            f"Index calcium ({ca.kind.value}) is below the lower reference limit and the intact "
            f"PTH closest to it (within ±{params.pth_pair_hypo_days} days) is not above the "
            f"upper reference limit ({fmt_num(pth_uln)} pg/mL); magnesium is "
            + ("not measured." if mg is None else "not low.")
        ),
        evidence=evidence,
        references=[HYPOPARA_2016, SFE_HYPOCALCAEMIA_2016],
        suggestions=suggestions,
        notes=notes,
    )


RULE = Rule(RULE_ID, "A10", evaluate)
