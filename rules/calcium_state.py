"""Albumin-corrected calcium and the calcium state (RULES.md 3.2 and 3.3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from rules.params import Parameters
from rules.ranges import range_for
from rules.snapshot import Analyte, LabResult

PAYNE_FACTOR = 0.8  # mg/dL of calcium per g/dL of albumin below 4.0 (Payne 1973)
PAYNE_ALBUMIN = 4.0  # g/dL


class CaKind(StrEnum):
    IONIZED = "ionized"
    LAB_CORRECTED = "lab-corrected"
    CORRECTED = "corrected"
    UNCORRECTED = "uncorrected"


class CaState(StrEnum):
    HIGH = "HIGH"
    LOW = "LOW"
    NORMAL = "NORMAL"


_PRECEDENCE = {Analyte.CA_ION: 2, Analyte.CA_LABCORR: 1, Analyte.CA_TOTAL: 0}


@dataclass(frozen=True, slots=True)
class CalciumReading:
    """One calcium result interpreted: its kind, the value compared, the range used and the state."""

    result: LabResult
    kind: CaKind
    value: float  # mg/dL, or mmol/L when ionized
    unit: str
    low: float | None
    high: float | None
    state: CaState
    albumin: LabResult | None = None

    @property
    def is_ionized(self) -> bool:
        return self.kind is CaKind.IONIZED

    @property
    def reported_value(self) -> float:
        """The value in the unit the lab reported (corrected values converted back)."""
        if self.kind is CaKind.CORRECTED and self.result.value:
            return self.result.reported_value * self.value / self.result.value
        return self.result.reported_value


def corrected_calcium(ca_mg_dl: float, albumin_g_dl: float) -> float:
    """Payne: Ca + 0.8 × (4.0 − albumin), applied in both directions."""
    return ca_mg_dl + PAYNE_FACTOR * (PAYNE_ALBUMIN - albumin_g_dl)


def pair_albumin(ca: LabResult, albumins: Sequence[LabResult], params: Parameters) -> LabResult | None:
    """Albumin from the same report, else the closest within ±ALB_PAIR hours (3.2)."""
    if ca.report is not None:
        same = [a for a in albumins if a.report == ca.report]
        if same:
            return min(same, key=lambda a: abs(a.effective - ca.effective))
    window = timedelta(hours=params.alb_pair_hours)
    near = [a for a in albumins if abs(a.effective - ca.effective) <= window]
    if not near:
        return None
    return min(near, key=lambda a: (abs(a.effective - ca.effective), -a.effective.timestamp()))


def classify(ca: LabResult, albumins: Sequence[LabResult], params: Parameters) -> CalciumReading:
    """Interpret one calcium result with its own albumin pairing (3.3 last paragraph)."""
    albumin: LabResult | None = None
    if ca.analyte is Analyte.CA_ION:
        kind, value = CaKind.IONIZED, ca.value
    elif ca.analyte is Analyte.CA_LABCORR:
        kind, value = CaKind.LAB_CORRECTED, ca.value
    else:
        albumin = pair_albumin(ca, albumins, params)
        if albumin is None:
            kind, value = CaKind.UNCORRECTED, ca.value
        else:
            kind, value = CaKind.CORRECTED, corrected_calcium(ca.value, albumin.value)
    rng = range_for(ca, params)
    if rng.high is not None and value > rng.high:
        state = CaState.HIGH
    elif rng.low is not None and value < rng.low:
        state = CaState.LOW
    else:
        state = CaState.NORMAL
    return CalciumReading(ca, kind, value, ca.unit, rng.low, rng.high, state, albumin)


def index_calcium(
    results: Sequence[LabResult], albumins: Sequence[LabResult], params: Parameters
) -> CalciumReading | None:
    """The index calcium among results already restricted to the window (3.3 steps 2–4)."""
    if not results:
        return None
    t_last = max(r.effective for r in results)
    recent = [r for r in results if r.effective >= t_last - timedelta(hours=24)]
    best = max(recent, key=lambda r: (_PRECEDENCE[r.analyte], r.effective, _status_rank(r)))
    return classify(best, albumins, params)


def _status_rank(r: LabResult) -> tuple[int, float]:
    corrected = 1 if r.status in ("corrected", "amended") else 0
    updated = r.last_updated.timestamp() if r.last_updated else 0.0
    return corrected, updated
