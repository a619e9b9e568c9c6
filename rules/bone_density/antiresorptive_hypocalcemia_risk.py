"""C6 `antiresorptive-hypocalcemia-risk`: an antiresorptive draft order despite a safety problem.

Denosumab can cause severe hypocalcaemia, above all in advanced CKD (FDA boxed warning, 19 Jan
2024: eGFR < 30 or dialysis), and its label requires pre-existing hypocalcaemia to be corrected;
bisphosphonate labels set renal limits (creatinine clearance < 35 mL/min for zoledronic acid and
alendronate, < 30 for risedronate and ibandronate). At order-select/order-sign of a bisphosphonate
or denosumab draft (order-select: only the selected drafts), the rule lists every problem found
and takes the highest indicator: `critical` for a low calcium, denosumab with eGFR < 30 within
180 days or dialysis, zoledronic acid with eGFR < 35; `warning` for alendronate < 35,
risedronate/ibandronate < 30, 25-OH D < 20 ng/mL within 365 days, no calcium within 90 days, no
eGFR/creatinine within 180 days; `info` for no 25-OH D within 365 days. The eGFR (measured, else
CKD-EPI 2021 from creatinine) stands in for the labels' Cockcroft–Gault clearance (RULES.md 3.5).
An active dialysis/ESRD Condition counts as a clearance below every label limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules import orderables
from rules.bone_density.common import ANTIRESORPTIVE_INGREDIENTS, known_ingredient_name, therapy_evidence
from rules.calcium_state import CaKind
from rules.facts import Egfr, Facts
from rules.findings import Evidence, Finding, Indicator, Reference, Suggestion
from rules.guidelines import CKD_EPI_2021, FDA_PROLIA_2024, KDIGO_CKD_MBD_2017
from rules.params import Parameters
from rules.presentation import (
    bounded_summary,
    calcium_display,
    calcium_evidence,
    capitalised,
    coded_condition_evidence,
    lab_evidence,
    make_finding,
    unique_suggestions,
)
from rules.rule import Rule
from rules.snapshot import Analyte, MedicationExposure
from rules.vitamin_d.latest_draw import VitdReading, latest_vitd
from rules.windows import fmt_num

RULE_ID = "antiresorptive-hypocalcemia-risk"

CRITICAL, WARNING, INFO = Indicator.CRITICAL, Indicator.WARNING, Indicator.INFO


@dataclass(frozen=True, slots=True)
class Problem:
    text: str  # as listed in {problem}
    indicator: Indicator
    order: int  # calcium, kidney, vitamin D, then missing data (the summary's reading order)


@dataclass(frozen=True, slots=True)
class Context:
    """What the order-time checks read, computed once for all drafts."""

    egfr: Egfr | None
    renal_lab: bool  # an eGFR or creatinine exists within the order-time window
    dialysis: bool
    vitd: VitdReading | None


def renal_limit(ingredient: str, params: Parameters) -> tuple[float, Indicator] | None:
    """The label limit (eGFR as a proxy for CrCl) and the indicator when below it."""
    match ingredient:
        case "denosumab":
            return params.egfr_dmab, CRITICAL
        case "zoledronic acid":
            return params.egfr_zol, CRITICAL
        case "alendronate":
            return params.egfr_aln, WARNING
        case "risedronate" | "ibandronate":
            return params.egfr_ris_ibn, WARNING
    return None


def is_denosumab(draft: MedicationExposure) -> bool:
    return "denosumab" in draft.ingredients or "DENOSUMAB" in draft.classes


def renal_problems(draft: MedicationExposure, ctx: Context, params: Parameters) -> list[Problem]:
    """Label limits of this draft's ingredients against the eGFR and dialysis status."""
    ingredients = set(draft.ingredients) | ({"denosumab"} if is_denosumab(draft) else set())
    out: list[Problem] = []
    for ingredient in sorted(ingredients):
        limit = renal_limit(ingredient, params)
        if limit is None:
            continue
        threshold, indicator = limit
        if ctx.egfr is not None and ctx.egfr.value < threshold:
            out.append(Problem(f"eGFR {fmt_num(ctx.egfr.value)}", indicator, 1))
        if ctx.dialysis:
            out.append(Problem("dialysis", indicator, 2))
    return out


def patient_problems(facts: Facts, ctx: Context, params: Parameters) -> list[Problem]:
    """Problems that concern any antiresorptive: calcium, vitamin D, missing data."""
    out: list[Problem] = []
    ca = facts.calcium
    if ca is None:
        out.append(Problem(f"no calcium in {params.ca_window_days} days", WARNING, 4))
    elif facts.ca_low:
        value, unit = calcium_display(ca)
        out.append(Problem(f"low calcium {value} {unit}", CRITICAL, 0))
    if not ctx.renal_lab:
        out.append(Problem(f"no eGFR in {params.egfr_order_window_days} days", WARNING, 5))
    elif ctx.egfr is None:
        out.append(Problem("eGFR not computable from creatinine", WARNING, 5))
    if ctx.vitd is None:
        out.append(Problem(f"no 25-OH D in {params.vitd_window_days} days", INFO, 6))
    elif ctx.vitd.value < params.vitd_deficient:
        value, unit = ctx.vitd.display()
        out.append(Problem(f"25-OH D {value} {unit}", WARNING, 3))
    return out


def merge(problems: list[Problem]) -> list[Problem]:
    """One entry per text with its highest indicator; most severe first, then reading order."""
    best: dict[str, Problem] = {}
    for p in problems:
        if p.text not in best or p.indicator.rank > best[p.text].indicator.rank:
            best[p.text] = p
    return sorted(best.values(), key=lambda p: (-p.indicator.rank, p.order))


def _context(facts: Facts, params: Parameters) -> Context:
    window = params.egfr_order_window_days
    return Context(
        egfr=facts.latest_egfr(within=window),
        renal_lab=facts.latest(Analyte.EGFR, Analyte.CREAT, within=window) is not None,
        dialysis=facts.has_condition("DIALYSIS"),
        vitd=latest_vitd(facts, params),
    )


def advanced_ckd_denosumab(drafts: list[MedicationExposure], ctx: Context, params: Parameters) -> bool:
    low = ctx.egfr is not None and ctx.egfr.value < params.egfr_dmab
    return any(is_denosumab(d) for d in drafts) and (low or ctx.dialysis)


def suggestions(
    facts: Facts, ctx: Context, drafts: list[MedicationExposure], params: Parameters
) -> list[Suggestion]:
    out = [orderables.cancel_draft(d.reference, f"Cancel the draft {name(d)} order") for d in drafts]
    ca = facts.calcium
    if ca is None:
        out += [orderables.CALCIUM, orderables.ALBUMIN]
    elif ca.kind is CaKind.UNCORRECTED:
        out += [orderables.ALBUMIN, orderables.IONIZED_CA]
    if ctx.egfr is None:
        out.append(orderables.CREATININE)
    if ctx.vitd is None:
        out.append(orderables.VITD)
    if facts.latest(Analyte.MG, within=params.ca_window_days) is None:
        out.append(orderables.MAGNESIUM)
    if facts.latest(Analyte.PHOS, within=params.ca_window_days) is None:
        out.append(orderables.PHOSPHATE)
    if advanced_ckd_denosumab(drafts, ctx, params):
        out += [orderables.PTH, orderables.referral("Involve a clinician experienced in CKD-MBD")]
    return unique_suggestions(out)


def notes(facts: Facts, ctx: Context, drafts: list[MedicationExposure], params: Parameters) -> list[str]:
    out = [
        "eGFR is used as a proxy for the Cockcroft-Gault creatinine clearance of the drug labels "
        "(RULES.md 3.5)."
    ]
    if ctx.egfr is not None and ctx.egfr.computed:
        out.append("eGFR computed with CKD-EPI 2021 (race-free) from the creatinine shown.")
    if facts.ca_low or (ctx.vitd is not None and ctx.vitd.value < params.vitd_deficient):
        out.append("Correct hypocalcaemia and vitamin D deficiency before dosing.")
    if advanced_ckd_denosumab(drafts, ctx, params):
        out.append(
            "Denosumab in advanced CKD: evaluate CKD-MBD first (intact PTH, calcium, 25-OH D, "
            "1,25(OH)2D), involve a clinician experienced in CKD-MBD, and monitor calcium weekly "
            "for the first month."
        )
    out.append("Offer to cancel or replace the draft order.")
    return out


def evidence(facts: Facts, ctx: Context, drafts: list[MedicationExposure]) -> list[Evidence]:
    rows = [therapy_evidence(d, name(d)) for d in drafts]
    if facts.calcium is not None:
        rows += calcium_evidence(facts.calcium)
    if ctx.egfr is not None:
        rows += [lab_evidence(r) for r in ctx.egfr.source]
    if ctx.vitd is not None:
        rows += [lab_evidence(r) for r in ctx.vitd.results]
    if ctx.dialysis:
        rows += [coded_condition_evidence(c) for c in facts.conditions("DIALYSIS")]
    return rows


def references(ctx: Context, drafts: list[MedicationExposure], params: Parameters) -> list[Reference]:
    out = [FDA_PROLIA_2024]
    if advanced_ckd_denosumab(drafts, ctx, params):
        out.append(KDIGO_CKD_MBD_2017)
    if ctx.egfr is not None and ctx.egfr.computed:
        out.append(CKD_EPI_2021)
    return out


def name(draft: MedicationExposure) -> str:
    return known_ingredient_name(draft, ANTIRESORPTIVE_INGREDIENTS)


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    if not facts.hook.is_order_hook:
        return None
    drafts = facts.drafts_of("ANTIRESORPTIVE_ORDER")
    if not drafts:
        return None
    ctx = _context(facts, params)
    shared = patient_problems(facts, ctx, params)
    own = {d.reference: renal_problems(d, ctx, params) for d in drafts}
    implicated = [d for d in drafts if shared or own[d.reference]]
    if not implicated:
        return None
    problems = merge(shared + [p for d in implicated for p in own[d.reference]])
    drug = capitalised(", ".join(dict.fromkeys(name(d) for d in implicated)))
    return make_finding(
        RULE_ID,
        max((p.indicator for p in problems), key=lambda i: i.rank),
        bounded_summary(
            lambda listed: f"{drug} ordered despite {listed}: correct or review before signing.",
            [p.text for p in problems],
        ),
        why=f"Order-time safety checks for {drug.lower()} found: "
        + "; ".join(f"{p.text} ({p.indicator.value})" for p in problems)
        + ".",
        evidence=evidence(facts, ctx, implicated),
        references=references(ctx, implicated, params),
        suggestions=suggestions(facts, ctx, implicated, params),
        notes=notes(facts, ctx, implicated, params),
        data={"problems": "|".join(p.text for p in problems)},
    )


RULE = Rule(RULE_ID, "C6", evaluate)
