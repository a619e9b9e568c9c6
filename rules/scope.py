"""Which rules run for which invocation (RULES.md 1.5; its lists are authoritative, 10.1 #8)."""

from __future__ import annotations

from rules.snapshot import Hook

ALL_RULE_IDS: tuple[str, ...] = (
    "hypercalcemia-pth-missing",
    "hypercalcemia-severe",
    "phpt-suspected",
    "pth-independent-hypercalcemia",
    "drug-associated-hypercalcemia",
    "phpt-surgical-criteria",
    "normocalcemic-phpt-possible",
    "secondary-hpt",
    "hypocalcemia",
    "hypopara-suspected",
    "hypomagnesemia",
    "vitd-deficiency",
    "vitd-excess",
    "low-bmd-secondary-workup",
    "low-z-score",
    "osteoporosis-untreated",
    "gio-bone-assessment-due",
    "ai-adt-bone-assessment-due",
    "antiresorptive-hypocalcemia-risk",
    "dxa-monitoring-due",
    "osteoporosis-screening-due",
    "bone-risk-condition-dxa-due",
    "tsh-suppressed-bone-risk",
    "ckd-mbd-monitoring-due",
)

_ORDER = frozenset(
    {
        "antiresorptive-hypocalcemia-risk",
        "gio-bone-assessment-due",
        "ai-adt-bone-assessment-due",
        "low-bmd-secondary-workup",
    }
)

SCOPE: dict[Hook, frozenset[str]] = {
    Hook.PATIENT_VIEW: frozenset(ALL_RULE_IDS) - {"antiresorptive-hypocalcemia-risk"},
    Hook.ORDER_SELECT: _ORDER,
    Hook.ORDER_SIGN: _ORDER,
    Hook.BACKGROUND: frozenset(
        {
            "hypercalcemia-pth-missing",
            "hypercalcemia-severe",
            "phpt-suspected",
            "pth-independent-hypercalcemia",
            "drug-associated-hypercalcemia",
            "normocalcemic-phpt-possible",
            "secondary-hpt",
            "hypocalcemia",
            "hypopara-suspected",
            "hypomagnesemia",
            "vitd-deficiency",
            "vitd-excess",
            "low-z-score",
            "tsh-suppressed-bone-risk",
        }
    ),
    Hook.BATCH: frozenset(
        {
            "low-bmd-secondary-workup",
            "osteoporosis-untreated",
            "gio-bone-assessment-due",
            "ai-adt-bone-assessment-due",
            "dxa-monitoring-due",
            "osteoporosis-screening-due",
            "bone-risk-condition-dxa-due",
            "ckd-mbd-monitoring-due",
            "phpt-surgical-criteria",
            "tsh-suppressed-bone-risk",
        }
    ),
}

# Generic DXA reminders and who suppresses them (1.5, section 7).
SPECIFIC_DXA_RULES = frozenset(
    {"gio-bone-assessment-due", "ai-adt-bone-assessment-due", "dxa-monitoring-due"}
)
PHPT_DXA_VARIANT = "evaluation-incomplete"  # only when its missing items include a DXA
