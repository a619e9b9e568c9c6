"""What the rules return: findings with their evidence, and failures as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Indicator.INFO: 0, Indicator.WARNING: 1, Indicator.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Ignored:
    """A resource the adapter or the rules left out, and why (e.g. `unit-unrecognised`)."""

    reference: str
    reason: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """One datum a finding rests on: shown in the card detail and written back as `implicated`."""

    reference: str
    label: str  # e.g. "Calcium (corrected)", "PTH", "DXA T-score LS"
    value: float | None = None
    unit: str = ""
    normalised_value: float | None = None
    normalised_unit: str = ""
    effective: datetime | None = None
    note: str = ""  # e.g. "corrected with albumin 3.9 g/dL (Observation/alb1)"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An action a card offers: order a test (LOINC), a referral, or cancel a draft order."""

    label: str
    kind: str = "order"  # "order" | "referral" | "cancel-draft"
    code: str | None = None  # LOINC code of the orderable, when there is one
    system: str | None = None
    display: str | None = None
    resource: str | None = None  # for "cancel-draft": the draft order reference


@dataclass(frozen=True, slots=True)
class Reference:
    """A guideline or specification a finding cites."""

    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    indicator: Indicator
    summary: str
    detail: str
    variant: str | None = None
    evidence: tuple[Evidence, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    references: tuple[Reference, ...] = ()
    # Stable key of the data that made the finding (for card uuids and write-back identifiers).
    index_key: str = ""
    data: dict[str, str] = field(default_factory=dict)  # machine-readable extras (criteria, causes, ...)


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule that raised: reported as data so that one rule's bug never silences the others."""

    rule_id: str
    error: str


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    patient: str
    at: datetime
    hook: str
    findings: tuple[Finding, ...]
    failures: tuple[RuleFailure, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    suppressed: tuple[str, ...] = ()  # rule ids that fired but were suppressed by 1.5 / section 7

    @property
    def rule_ids(self) -> frozenset[str]:
        return frozenset(f.rule_id for f in self.findings)
