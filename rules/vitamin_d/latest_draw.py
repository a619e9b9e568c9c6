"""The 25-OH vitamin D value every rule reads: the latest draw decides (RULES.md B1, 10.1 #7).

The one implementation used by B1/B2, the raised-PTH rules (A7/A8), the hypercalcaemia and
hypocalcaemia rules (A3, A4, A9: "25-OH D missing" → suggest it) and the bone-density rules (C1 work-up
window, C6 order-time checks).

A "draw" is the set of 25-OH D results sharing the latest effective time (or the DiagnosticReport of
the latest result). The newest draw within VITD_WINDOW decides, whatever it contains: an older total
never beats a newer D3. Within that draw the total (D2+D3) is preferred; else D3, with the D2 of the
same draw added when there is one; the legacy "Vitamin D+Metabolites" code counts only when the site
has confirmed it is a 25-OH D assay (`accept_vitd_legacy`). A draw holding only a D2 result gives no
interpretable 25-OH D (D2 alone says nothing about the total), and the reading is then missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rules.facts import Facts
from rules.params import Parameters
from rules.snapshot import Analyte, LabResult
from rules.windows import fmt_num


class VitdKind(StrEnum):
    TOTAL = "total"
    D3 = "D3 only"
    D3_D2 = "D3 + D2"
    LEGACY = "legacy assay"


@dataclass(frozen=True, slots=True)
class VitdReading:
    """The 25-OH D value of the latest draw, in ng/mL, with the results it was computed from."""

    value: float  # ng/mL (canonical)
    kind: VitdKind
    results: tuple[LabResult, ...]

    @property
    def effective(self) -> datetime:
        return max(r.effective for r in self.results)

    @property
    def d2_not_measured(self) -> bool:
        """Only D3 was measured: a patient on ergocalciferol (D2) may be under-read."""
        return self.kind is VitdKind.D3

    def display(self) -> tuple[str, str]:
        """(value, unit) as reported; a D3 + D2 sum in mixed units is shown in ng/mL."""
        units = {r.reported_unit.strip().lower() for r in self.results}
        if len(units) == 1:
            first = self.results[0]
            return fmt_num(sum(r.reported_value for r in self.results)), first.reported_unit
        return fmt_num(self.value), "ng/mL"


def _of(draw: Sequence[LabResult], analyte: Analyte) -> LabResult | None:
    """The preferred result of one analyte in a draw (the list is oldest-first, corrected last)."""
    found = [r for r in draw if r.analyte is analyte]
    return found[-1] if found else None


def latest_vitd(facts: Facts, params: Parameters, within: float | None = None) -> VitdReading | None:
    """The 25-OH D reading of the latest draw within `within` days (default VITD_WINDOW), or None
    when missing; a latest draw with no interpretable value (D2 only) is missing, whatever is older."""
    analytes = [Analyte.VITD_TOTAL, Analyte.VITD_D3, Analyte.VITD_D2]
    if params.accept_vitd_legacy:
        analytes.append(Analyte.VITD_LEGACY)
    window = params.vitd_window_days if within is None else within
    results = facts.labs(*analytes, within=window)
    if not results:
        return None
    last = results[-1]
    draw = [
        r
        for r in results
        if r.effective == last.effective or (last.report is not None and r.report == last.report)
    ]
    total = _of(draw, Analyte.VITD_TOTAL)
    if total is not None:
        return VitdReading(total.value, VitdKind.TOTAL, (total,))
    d3 = _of(draw, Analyte.VITD_D3)
    if d3 is not None:
        d2 = _of(draw, Analyte.VITD_D2)
        if d2 is None:
            return VitdReading(d3.value, VitdKind.D3, (d3,))
        return VitdReading(d3.value + d2.value, VitdKind.D3_D2, (d3, d2))
    legacy = _of(draw, Analyte.VITD_LEGACY)
    if legacy is not None:
        return VitdReading(legacy.value, VitdKind.LEGACY, (legacy,))
    return None
