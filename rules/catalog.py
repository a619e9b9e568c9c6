"""The rule catalog: every rule of RULES.md section 5, in the order of the specification.

Adding a rule is one module, one table-driven test module and one line here; `tests/rules/test_catalog.py`
fails if any of the three is missing.
"""

from __future__ import annotations

from rules.bone_density import (
    ai_adt_bone_assessment_due,
    antiresorptive_hypocalcemia_risk,
    bone_risk_condition_dxa_due,
    dxa_monitoring_due,
    gio_bone_assessment_due,
    low_bmd_secondary_workup,
    low_z_score,
    osteoporosis_screening_due,
    osteoporosis_untreated,
    tsh_suppressed_bone_risk,
)
from rules.calcium import (
    hypercalcemia_pth_missing,
    hypercalcemia_severe,
    hypocalcemia,
    hypomagnesemia,
)
from rules.ckd import ckd_mbd_monitoring_due
from rules.parathyroid import (
    drug_associated_hypercalcemia,
    hypopara_suspected,
    normocalcemic_phpt_possible,
    phpt_surgical_criteria,
    phpt_suspected,
    pth_independent_hypercalcemia,
    secondary_hpt,
)
from rules.rule import Rule
from rules.vitamin_d import vitd_deficiency, vitd_excess

CATALOG: tuple[Rule, ...] = (
    hypercalcemia_pth_missing.RULE,
    hypercalcemia_severe.RULE,
    phpt_suspected.RULE,
    pth_independent_hypercalcemia.RULE,
    drug_associated_hypercalcemia.RULE,
    phpt_surgical_criteria.RULE,
    normocalcemic_phpt_possible.RULE,
    secondary_hpt.RULE,
    hypocalcemia.RULE,
    hypopara_suspected.RULE,
    hypomagnesemia.RULE,
    vitd_deficiency.RULE,
    vitd_excess.RULE,
    low_bmd_secondary_workup.RULE,
    low_z_score.RULE,
    osteoporosis_untreated.RULE,
    gio_bone_assessment_due.RULE,
    ai_adt_bone_assessment_due.RULE,
    antiresorptive_hypocalcemia_risk.RULE,
    dxa_monitoring_due.RULE,
    osteoporosis_screening_due.RULE,
    bone_risk_condition_dxa_due.RULE,
    tsh_suppressed_bone_risk.RULE,
    ckd_mbd_monitoring_due.RULE,
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in CATALOG}
