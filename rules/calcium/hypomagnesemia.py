"""A11 `hypomagnesemia`: the latest magnesium within 30 days is below the lower reference limit.

Magnesium deficiency impairs PTH secretion and action and is a correctable cause of hypocalcaemia
(Society for Endocrinology 2016 emergency guidance, which also names proton pump inhibitors as a
recognised cause). The card is `critical` when Mg < 1.2 mg/dL (0.5 mmol/L) within the last 7 days,
else `warning`. With a low calcium it reminds that Mg must be corrected before hypoparathyroidism
can be diagnosed (which is why `hypopara-suspected` stays silent). No Mg within 30 days: no card.
"""

from __future__ import annotations

from dataclasses import replace

from rules import orderables
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import SFE_HYPOCALCAEMIA_2016
from rules.params import Parameters
from rules.presentation import calcium_evidence, lab_evidence, make_finding
from rules.rule import Rule
from rules.snapshot import Analyte
from rules.windows import fmt_date, fmt_num, within_days

RULE_ID = "hypomagnesemia"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    mg = facts.latest(Analyte.MG, within=params.mg_window_days)
    if mg is None:
        return None
    lln = facts.lln(mg)
    if lln is None or mg.value >= lln:
        return None
    severe = mg.value < params.mg_severe and within_days(mg.effective, facts.at, params.severe_window_days)
    ppis = facts.current("PPI")
    ppi_note = ", on a PPI" if ppis else ""
    summary = (
        f"Low magnesium {fmt_num(mg.reported_value)} {mg.reported_unit} on "
        f"{fmt_date(mg.effective)}{ppi_note}; correct Mg and recheck calcium and PTH."
    )
    notes = [
        "Magnesium replacement per local protocol; review PPI, diuretics and alcohol.",
    ]
    if ppis:
        names = ", ".join(sorted({m.display for m in ppis}))
        notes.append(f"PPI-associated hypomagnesaemia is recognised (current: {names}).")
    evidence = [lab_evidence(mg, note=f"LLN {fmt_num(lln)} mg/dL")]
    if facts.calcium is not None and facts.ca_low:
        notes.append(
            "Calcium is low: hypomagnesaemia impairs PTH secretion/action; correct Mg before "
            "diagnosing hypoparathyroidism."
        )
        evidence += calcium_evidence(facts.calcium)
    return make_finding(
        RULE_ID,
        Indicator.CRITICAL if severe else Indicator.WARNING,
        summary,
        why=(
            f"Latest magnesium within {params.mg_window_days} days is below the lower reference "
            f"limit ({fmt_num(lln)} mg/dL)"
            + (
                f", and below {fmt_num(params.mg_severe)} mg/dL within {params.severe_window_days} days."
                if severe
                else "."
            )
        ),
        evidence=evidence,
        references=[SFE_HYPOCALCAEMIA_2016],
        suggestions=[
            replace(orderables.MAGNESIUM, label="Repeat magnesium after correction"),
            replace(orderables.CALCIUM, label="Repeat calcium after correction"),
            replace(orderables.PTH, label="Repeat intact PTH after correction"),
        ],
        notes=notes,
    )


RULE = Rule(RULE_ID, "A11", evaluate)
