"""B2 `vitd-excess`: the latest 25-OH vitamin D is above 100 ng/mL (250 nmol/L).

Endocrine Society 2011 (Holick et al.): levels above 100 ng/mL are more than needed, and toxicity
(hypercalcaemia, hypercalciuria) is reported above 150 ng/mL (375 nmol/L). The card is `warning`
above 150 ng/mL or when calcium is HIGH (vitamin D intoxication), else `info`. The value is the
latest draw's (`rules.vitamin_d.latest_draw`); a D3-only value already above the limit means the
total is too, so it counts.
"""

from __future__ import annotations

from rules import orderables
from rules.facts import Facts
from rules.findings import Finding, Indicator
from rules.guidelines import ES_VITD_2011
from rules.params import Parameters
from rules.presentation import calcium_evidence, lab_evidence, make_finding
from rules.rule import Rule
from rules.vitamin_d.latest_draw import latest_vitd
from rules.windows import fmt_num

RULE_ID = "vitd-excess"


def evaluate(facts: Facts, params: Parameters) -> Finding | None:
    vitd = latest_vitd(facts, params)
    if vitd is None or vitd.value <= params.vitd_high:
        return None
    toxic = vitd.value > params.vitd_toxic
    ca_high = facts.ca_high
    value, unit = vitd.display()
    ca_note = " and calcium is high" if ca_high else ""
    summary = (
        f"25-OH vitamin D {value} {unit} is above {fmt_num(params.vitd_high)} ng/mL; "
        f"review vitamin D intake{ca_note}."
    )
    evidence = [lab_evidence(r, note=vitd.kind.value) for r in vitd.results]
    notes = ["Review all vitamin D sources, including over-the-counter supplements."]
    if toxic:
        notes.append(f"Above {fmt_num(params.vitd_toxic)} ng/mL: range associated with toxicity.")
    if ca_high and facts.calcium is not None:
        evidence += calcium_evidence(facts.calcium)
        notes.append("Calcium is high: hold vitamin D (and calcium supplements).")
    return make_finding(
        RULE_ID,
        Indicator.WARNING if toxic or ca_high else Indicator.INFO,
        summary,
        why=(
            f"Latest 25-OH vitamin D within {params.vitd_window_days} days ({vitd.kind.value}, "
            f"{fmt_num(vitd.value)} ng/mL) is above {fmt_num(params.vitd_high)} ng/mL."
        ),
        evidence=evidence,
        references=[ES_VITD_2011],
        suggestions=[orderables.CALCIUM, orderables.ALBUMIN, orderables.URINE_CA_24H],
        notes=notes,
    )


RULE = Rule(RULE_ID, "B2", evaluate)
