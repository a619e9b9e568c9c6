"""A9 `hypocalcemia`: a low index calcium, graded by how reliable and how recent it is.

The Society for Endocrinology emergency guidance (2016) calls an adjusted calcium < 1.9 mmol/L
(7.6 mg/dL) severe; the ionized equivalent used here is < 1.00 mmol/L. A `critical` card needs a
trustworthy value (ionized, lab-corrected or albumin-corrected) at most SEVERE_WINDOW (7) days
old. A total calcium without albumin may just reflect low albumin: it never goes above
`warning` (below 7.6 mg/dL) and is otherwise `info`, and the card asks for albumin or ionized
calcium. An ionized result within 24 h of the latest total calcium decides (section 3.3), so a
normal corrected value cannot hide a low ionized calcium (vignette V37); a low total calcium whose
corrected value is normal is not low at all (V07).
"""

from __future__ import annotations

from rules import orderables
from rules.calcium_state import CaKind, CalciumReading
from rules.facts import Facts
from rules.findings import Finding, Indicator, Suggestion
from rules.guidelines import SFE_HYPOCALCAEMIA_2016
from rules.params import Parameters
from rules.parathyroid.common import calcium_caveats, index_calcium_text, lab_evidence_rows, latest_mg_since
from rules.presentation import calcium_display, make_finding, unique_suggestions
from rules.rule import Rule
from rules.snapshot import Analyte, LabResult
from rules.vitamin_d.latest_draw import latest_vitd
from rules.windows import fmt_date, within_days

RULE_ID = "hypocalcemia"


def below_severe(ca: CalciumReading, params: Parameters) -> bool:
    # Rounded so that a value shown as 7.6 compares as 7.6 (float noise of unit conversion).
    if ca.is_ionized:
        return round(ca.value, 6) < params.ca_severe_low_ionized
    return round(ca.value, 6) < params.ca_severe_low


def indicator_for(facts: Facts, ca: CalciumReading, params: Parameters) -> Indicator:
    severe = below_severe(ca, params)
    if ca.kind is CaKind.UNCORRECTED:
        return Indicator.WARNING if severe else Indicator.INFO
    recent = within_days(ca.result.effective, facts.at, params.severe_window_days)
    return Indicator.CRITICAL if severe and recent else Indicator.WARNING


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    ca = facts.calcium
    if ca is None or not facts.ca_low:
        return None
    indicator = indicator_for(facts, ca, params)
    value, unit = calcium_display(ca)
    summary = (
        f"Low calcium {value} {unit} ({ca.kind.value}) on {fmt_date(ca.result.effective)}; "
        "check PTH, magnesium, phosphate and 25-OH D."
    )
    t_index = ca.result.effective
    pth = facts.paired(Analyte.PTH, t_index, params.pth_pair_hypo_days)
    mg = latest_mg_since(facts, t_index, params)
    caveats, caveat_orders = calcium_caveats(facts, ca, params)
    notes = [*caveats]
    if below_severe(ca, params):
        notes.append(
            "Severe range: ECG (QT interval); IV calcium per local protocol if severe or symptomatic."
        )
    return make_finding(
        RULE_ID,
        indicator,
        summary,
        why=_why(ca, indicator, params),
        evidence=lab_evidence_rows(ca, pth, mg),
        references=[SFE_HYPOCALCAEMIA_2016],
        suggestions=_suggestions(facts, params, pth, mg, caveat_orders),
        notes=notes,
        data={"kind": ca.kind.value},
    )


def _suggestions(
    facts: Facts,
    params: Parameters,
    pth: LabResult | None,
    mg: LabResult | None,
    caveat_orders: list[Suggestion],
) -> list[Suggestion]:
    orders = [*caveat_orders]
    if pth is None:
        orders.append(orderables.PTH)
    if mg is None:
        orders.append(orderables.MAGNESIUM)
    orders.append(orderables.PHOSPHATE)
    if latest_vitd(facts, params) is None:
        orders.append(orderables.VITD)
    if facts.latest_egfr() is None:
        orders.append(orderables.CREATININE)
    return unique_suggestions(orders)


def _why(ca: CalciumReading, indicator: Indicator, params: Parameters) -> str:
    base = f"{index_calcium_text(ca)} is below the lower reference limit"
    if indicator is Indicator.CRITICAL:
        return f"{base}, in the severe range and at most {params.severe_window_days} days old."
    if ca.kind is CaKind.UNCORRECTED:
        return f"{base}; it is not corrected for albumin, so the card stays below critical."
    return f"{base}."


RULE = Rule(RULE_ID, "A9", evaluate)
