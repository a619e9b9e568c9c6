"""Ports: what the use cases need from the outside world, as `typing.Protocol`s and frozen values.

Adapters implement them (SQLAlchemy stores, Redis or in-memory replay cache); tests run one contract
suite against every implementation. Values crossing a port are frozen dataclasses, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Outcome = Literal["accepted", "overridden"]
AlertStatus = Literal["new", "written", "failed"]

OUTCOMES: frozenset[str] = frozenset({"accepted", "overridden"})


def _require_aware(name: str, t: datetime) -> None:
    # Naive datetimes would be stored as-is and compare wrongly across time zones and backends.
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


# --- CDS Hooks feedback ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverrideReason:
    """`overrideReason.reason` of a CDS Hooks feedback item (a Coding)."""

    code: str | None = None
    system: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    """One CDS Hooks feedback item, resolved to the rule that produced the card.

    CDS Hooks 2.0 feedback carries no hook instance: `hook_instance` is "" when the caller cannot
    tell it (an empty string, not None, so that the uniqueness that makes repeats idempotent holds).
    """

    card_uuid: str
    service_id: str
    rule_id: str
    outcome: Outcome
    outcome_timestamp: datetime
    hook_instance: str = ""
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideReason | None = None
    user_comment: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown feedback outcome {self.outcome!r}")
        _require_aware("outcome_timestamp", self.outcome_timestamp)


@dataclass(frozen=True, slots=True)
class ReasonCount:
    code: str | None
    system: str | None
    display: str | None
    count: int


@dataclass(frozen=True, slots=True)
class OverrideRate:
    """Feedback counts of one rule. Cards shown are not counted (the EHR does not report them)."""

    rule_id: str
    accepted: int
    overridden: int
    reasons: tuple[ReasonCount, ...] = ()  # the overrides by reason, most frequent first

    @property
    def total(self) -> int:
        return self.accepted + self.overridden

    @property
    def rate(self) -> float:
        """Share of feedback that overrode the card (0.0 when there is none)."""
        return self.overridden / self.total if self.total else 0.0


class FeedbackStore(Protocol):
    def record(self, feedback: Feedback) -> bool:
        """Store one feedback item; False when the same item was already stored (a repeat)."""
        ...

    def override_rates(self) -> tuple[OverrideRate, ...]:
        """Per rule id, sorted by rule id."""
        ...


# --- Cards issued (so that feedback can name its rule) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A card the service returned: CDS Hooks feedback names only the card uuid, this names the rule.

    `hook_instance` is the hook call that first returned the card (feedback carries none, and the
    same uuid comes back at every call while the finding stands).
    """

    card_uuid: str
    rule_id: str
    service_id: str
    hook_instance: str = ""


class CardIndex(Protocol):
    def pending(self, cards: Sequence[IssuedCard]) -> list[IssuedCard]:
        """The cards this process has not recorded recently (no I/O: the hook path asks it first)."""
        ...

    def remember(self, cards: Sequence[IssuedCard], at: datetime) -> None:
        """Record cards as issued; a uuid already known keeps its first record."""
        ...

    def lookup(self, card_uuids: Sequence[str]) -> Mapping[str, IssuedCard]:
        """The issued cards among `card_uuids`, by uuid (unknown uuids are absent)."""
        ...


# --- Alerts of the background path -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What makes an alert the same alert: the patient, the rule and the data it rests on."""

    patient: str
    rule_id: str
    index_key: str


@dataclass(frozen=True, slots=True)
class NewAlert:
    """A finding of a background evaluation, ready to store (the caller computed uuid and identifier)."""

    rule_id: str
    indicator: str
    summary: str
    detail: str
    index_key: str
    card_uuid: str
    identifier: str  # the DetectedIssue.identifier value of the write-back
    evidence: tuple[str, ...] = ()  # references of the evidence resources, e.g. "Observation/ca1"
    # The finding as JSON (service.adapters.findings_json.finding_to_dict), to rebuild the card.
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    patient: str
    rule_id: str
    indicator: str
    summary: str
    detail: str
    index_key: str
    card_uuid: str
    identifier: str
    evidence: tuple[str, ...]
    payload: Mapping[str, Any]
    status: AlertStatus
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    retired_at: datetime | None = None  # set when a later evaluation no longer found it

    @property
    def key(self) -> AlertKey:
        return AlertKey(self.patient, self.rule_id, self.index_key)


class AlertStore(Protocol):
    def upsert(self, patient: str, alerts: Sequence[NewAlert], at: datetime) -> tuple[StoredAlert, ...]:
        """Make `alerts` the patient's current findings as of `at`; return them as stored.

        Idempotent on (patient, rule id, index key): a repeat keeps the row and its write-back
        status. Alerts of the patient missing from `alerts` are retired (no longer served), unless a
        later evaluation already touched them. Callers write back those returned with status "new".
        """
        ...

    def for_patient(self, patient: str) -> tuple[StoredAlert, ...]:
        """The patient's current (not retired) alerts, oldest first."""
        ...

    def mark_written(self, key: AlertKey, *, at: datetime) -> bool:
        """Record a successful write-back; False when the alert is unknown."""
        ...

    def mark_failed(self, key: AlertKey, reason: str, *, at: datetime) -> bool:
        """Record a permanent write-back failure; False when unknown or already written."""
        ...

    def failed(self) -> tuple[StoredAlert, ...]:
        """Every alert whose write-back failed permanently, oldest first."""
        ...


# --- CDS Hooks JWT replay protection ----------------------------------------------------------------


class ReplayCache(Protocol):
    async def first_use(self, key: str, ttl_seconds: float) -> bool:
        """Remember `key` for `ttl_seconds`; True the first time, False while it is remembered."""
        ...


# --- Background path: notifications → queue → workers (issue 4) --------------------------------------

TaskKwargs = Mapping[str, str | int | None]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One unit of background work: a stable task name and ids only (never PHI) as arguments.

    `key` makes a delivery idempotent: an item whose key was already accepted is dropped (e.g.
    "event:Subscription/1#5" for event 5 of a subscription, "version:Observation/o1/_history/2").
    """

    task: str
    kwargs: TaskKwargs = field(default_factory=dict)
    key: str | None = None


class QueueUnavailableError(Exception):
    """The work could not be durably enqueued (broker or store down): the caller must not answer 2xx."""


class TaskQueue(Protocol):
    def enqueue(self, items: Sequence[WorkItem]) -> None:
        """Hand `items` over durably, or raise `QueueUnavailableError` (nothing may be half-sent silently)."""
        ...


@dataclass(frozen=True, slots=True)
class BackgroundFailure:
    """Background work that failed permanently (a 4xx other than 429, retries exhausted, no patient)."""

    task: str
    subject: str  # what the work was about: "Patient/p1", "Observation/o1", "Subscription/s1"
    reason: str
    attempts: int
    failed_at: datetime


class FailureLog(Protocol):
    def record_failure(self, failure: BackgroundFailure) -> None: ...

    def failures(self, limit: int = 100) -> tuple[BackgroundFailure, ...]:
        """The most recent failures first."""
        ...

    def failure_count(self) -> int: ...
