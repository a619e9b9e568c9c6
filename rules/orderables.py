"""Orderable tests and referrals that cards suggest (LOINC codes of RULES.md 2.1/2.2)."""

from __future__ import annotations

from rules.findings import Suggestion

LOINC = "http://loinc.org"


def _order(label: str, code: str, display: str) -> Suggestion:
    return Suggestion(label=label, kind="order", code=code, system=LOINC, display=display)


PTH = _order("Order intact PTH", "2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma")
CALCIUM = _order("Order serum calcium", "17861-6", "Calcium [Mass/volume] in Serum or Plasma")
ALBUMIN = _order("Order albumin", "1751-7", "Albumin [Mass/volume] in Serum or Plasma")
IONIZED_CA = _order("Order ionized calcium", "1994-3", "Calcium.ionized [Moles/volume] in Blood")
VITD = _order(
    "Order 25-OH vitamin D",
    "62292-8",
    "25-Hydroxyvitamin D2+25-Hydroxyvitamin D3 [Mass/volume] in Serum or Plasma",
)
CREATININE = _order("Order creatinine/eGFR", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma")
PHOSPHATE = _order("Order phosphate", "2777-1", "Phosphate [Mass/volume] in Serum or Plasma")
MAGNESIUM = _order("Order magnesium", "19123-9", "Magnesium [Mass/volume] in Serum or Plasma")
TSH = _order("Order TSH", "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma")
URINE_CA_24H = _order(
    "Order 24-hour urine calcium and creatinine", "6874-2", "Calcium [Mass/time] in 24 hour Urine"
)
# 1,25-Dihydroxyvitamin D: RULES.md 2.1 lists 62290-2 (component verified) as the calcitriol code.
CALCITRIOL = _order("Order 1,25-dihydroxyvitamin D", "62290-2", "1,25-Dihydroxyvitamin D")
DXA = _order(
    "Order DXA (lumbar spine and hip)",
    "83311-1",
    "Bone density quantitative measurement by DXA panel",
)
DXA_WITH_RADIUS = _order(
    "Order DXA of lumbar spine, hip and distal 1/3 radius",
    "83311-1",
    "Bone density quantitative measurement by DXA panel",
)


def local_order(label: str) -> Suggestion:
    """An order without a verified LOINC code: the site maps it to a local orderable (RULES.md 0)."""
    return Suggestion(label=label, kind="order")


# PTH-independent hypercalcaemia work-up (A2, A4): no verified LOINC code for either.
PTHRP = local_order("Order PTHrP")
SPEP_FLC = local_order("Order serum protein electrophoresis and serum free light chains")


def referral(label: str) -> Suggestion:
    """A referral: a local orderable, no LOINC code."""
    return Suggestion(label=label, kind="referral")


def cancel_draft(reference: str, label: str) -> Suggestion:
    return Suggestion(label=label, kind="cancel-draft", resource=reference)
